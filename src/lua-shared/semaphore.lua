-- A semaphore's holders and waiters, shared by semaphore/*.lua and admin/break-lock.lua (pasted in by
-- scripts/gen-lua.mjs). Keys are passed by name, as each script orders its KEYS differently:
--   holders    a sorted set: token -> expiry (server ms); expired members are dropped on every run
--   permits    a hash: token -> permits held, plus ':used' (their sum) and ':limit' (the limit while anyone
--              holds: it expires with them), and "<token>:f" -> the fence of permits a release handed to that
--              token (semaphore/release.lua), until they are freed. Tokens never contain ':', so the fields
--              cannot clash.
--   waiting    a sorted set: waiter id -> arrival (server µs)
--   heartbeats a hash: waiter id -> "<place expires at, server ms>:<permits wanted>:<ttl ms>:<fencing 0|1>:<its
--              limit>:<its token>" (what a release needs to hand it its permits; "<expires>:<permits>:<token>"
--              as written by earlier versions is read too, and wakes that waiter instead)
-- In quorum mode a waiter stays queued while it holds (until its call drops the place): undoing a split vote's
-- grants then leaves the queue as it was. A waiter whose token holds is skipped, as its permits are counted as
-- held. On one node a grant drops the place in the same step (see eachWaiter).
--- @include "publish.lua"

--- @include "clock.lua"

-- Drops holders whose expiry passed. Returns the permits still in use, and whether any holder was dropped (the
-- keys go once nobody holds). ':used' is 0 or missing exactly when nobody holds (both keys expire together, with
-- the latest holder): an idle semaphore costs one HGET here (none when the caller read ':used' already: `used`).
local function prune(holders, permits, nowMs, used)
  used = used or tonumber(redis.call('HGET', permits, ':used')) or 0
  if used == 0 then return 0, false end
  local expired = redis.call('ZRANGEBYSCORE', holders, '-inf', nowMs)
  if #expired == 0 then return used, false end
  for _, token in ipairs(expired) do
    used = used - (tonumber(redis.call('HGET', permits, token)) or 0)
    redis.call('HDEL', permits, token, token .. ':f')
  end
  redis.call('ZREMRANGEBYSCORE', holders, '-inf', nowMs)
  if used <= 0 or redis.call('ZCARD', holders) == 0 then
    redis.call('DEL', holders, permits)
    return 0, true
  end
  redis.call('HSET', permits, ':used', used)
  return used, true
end

-- Both keys live as long as the latest holder, so an idle semaphore leaves nothing behind.
local function expireWithLatest(holders, permits)
  local latest = redis.call('ZRANGE', holders, -1, -1, 'WITHSCORES')[2]
  if latest then
    redis.call('PEXPIREAT', holders, latest)
    redis.call('PEXPIREAT', permits, latest)
  end
end

-- A waiter's place: expires, permits wanted, token, and (nil in a place written by an earlier version) its TTL,
-- fencing flag and limit, as strings; nothing when `entry` is not one.
local function waiterParts(entry)
  local expires, wanted, ttl, fencing, limit, token =
    string.match(entry, '^(%d+):(%d+):(%d+):([01]):(%d+):([^:]+)$')
  if expires then return expires, wanted, token, ttl, fencing, limit end
  return string.match(entry, '^(%d+):(%d+):(.+)$')
end

-- Visits live waiters that do not hold in arrival order, dropping dead ones (their place was not refreshed:
-- crashed) on the way, until visit(id, permits, token, ttl, fencing, limit) returns true or the queue ends. With
-- `nowMs` nil, the clock is read only when someone waits. `holders` nil: no waiter is looked up among the holders,
-- for one node, where a grant drops the waiter's place in the same step (so a queued waiter never holds; a place
-- that an earlier version left behind a grant would only count as waiting, which refuses more, never less).
-- A set of the holders' tokens, read in one call (nil when there are more than 16: then each is looked up alone).
local function holderSet(holders)
  local tokens = redis.call('ZRANGE', holders, 0, 16)
  if #tokens > 16 then return nil end
  local set = {}
  for _, token in ipairs(tokens) do set[token] = true end
  return set
end

local function eachWaiter(waiting, heartbeats, holders, nowMs, visit)
  local kept = 0
  -- Whether a waiter holds: the few holders read once per walk, rather than a ZSCORE per waiter (on a quorum a
  -- waiter stays queued while it holds, and every attempt and release walks the waiters ahead).
  local holding
  local function isHolder(token)
    if holding == nil then holding = holderSet(holders) or false end
    if holding then return holding[token] end
    return redis.call('ZSCORE', holders, token)
  end
  while true do
    local batch = redis.call('ZRANGE', waiting, kept, kept + 15)
    if #batch == 0 then return end
    if not nowMs then nowMs = select(2, serverNow()) end
    -- Their places in one call, not one each.
    local entries = redis.call('HMGET', heartbeats, unpack(batch))
    for i, id in ipairs(batch) do
      local expires, wanted, token, ttl, fencing, limit = waiterParts(entries[i] or '')
      if expires and tonumber(expires) > nowMs then
        local holds = holders and isHolder(token)
        if not holds and visit(id, tonumber(wanted), token, ttl, fencing, limit) then
          return
        end
        kept = kept + 1
      else
        redis.call('ZREM', waiting, id)
        redis.call('HDEL', heartbeats, id)
      end
    end
  end
end

local function dropWaiter(waiting, heartbeats, id)
  local removed = redis.call('ZREM', waiting, id)
  redis.call('HDEL', heartbeats, id)
  return removed == 1
end

-- Lets the live waiters whose permits fit in `free` permits go, in queue order, stopping at the first that does
-- not (the ones behind it could not take permits past it anyway): `hand(id, permits, token, ttl, fencing, limit)`,
-- when given, grants a waiter its permits (true when it did); any other is woken, "w:<waiter id>:<release id>".
-- `nowMs` as in eachWaiter.
local function wakeWhoFits(waiting, heartbeats, holders, nowMs, free, channel, releaseId, hand)
  eachWaiter(waiting, heartbeats, holders, nowMs, function(waiter, permits, token, ttl, fencing, limit)
    if permits > free then return true end
    free = free - permits
    if not (hand and ttl and hand(waiter, permits, token, ttl, fencing, limit)) then
      publishTo(channel, waiter, 'w:' .. waiter .. ':' .. releaseId)
    end
    return free <= 0
  end)
end
