--[[
  Takes `permits` of the semaphore if they fit: the permits of live holders, plus those of the live waiters
  ahead of the caller (every waiter, for a caller without a place), plus its own, within the limit. So nobody
  takes permits that a waiter ahead of it still needs: a waiter wanting many is never starved by newcomers
  wanting few. A waiter also queues (or refreshes its place) here, at the arrival it brings (the same on every
  node, so the nodes' queues agree); a call's first attempt only where the permits are refused. Granted on a
  quorum of nodes, it stays queued (skipped, as its token holds) until its call drops the place, so that undoing
  a split vote's grant leaves the queue as it was; granted on a single node (no vote to split), its place goes
  in the same step. Expired holders are dropped first.
  The fencing counter is bumped as in mutex/acquire.lua (a missing one starts at the server's clock in µs).

  KEYS[1] the holders (sorted set: token -> expiry, server ms)
  KEYS[2] the fencing counter key (shared with the mutex of the same name)
  KEYS[3] the permits (hash: token -> permits, ':used' -> their sum, ':limit' -> the limit while anyone holds,
          "<token>:f" -> the fence of permits a release handed to that token)
  KEYS[4] the waiting queue (sorted set: waiter id -> arrival, server µs)
  KEYS[5] the waiters' heartbeats (hash: waiter id -> "<place expires at, server ms>:<permits wanted>:<ttl ms>:
          <fencing 0|1>:<limit>:<token>": what a release needs to hand the waiter its permits)
  ARGV[1] the caller's token
  ARGV[2] the TTL in milliseconds
  ARGV[3] "1" to bump the fencing counter, "0" to leave it alone
  ARGV[4] the caller's limit
  ARGV[5] the permits wanted
  ARGV[6] the waiter's place: "" for an attempt without one (tryAcquire), else
          "<first>:<lifetime>:<arrival>:<waiter id>" (lua-shared/place.lua):
          first: "1" to (re)register only when the permits are not granted (a call's first attempt: the
                 uncontended path writes no queue entry), "0" to register win or lose
          lifetime: how long the place lasts without a refresh, in ms; "0": do not (re)register now
          arrival: the waiter's arrival (µs, as the nodes' clocks told it), or "" for this node's time
  ARGV[7] "1" when a grant here is the whole vote (a single node): the caller's place, if it has one (not on a
          call's first attempt), is dropped with it (on a quorum it stays until the call drops it)
  ARGV[8] (optional) "1" for a waiter on a quorum that fences: a refusal also says where the fencing counter
          stands, so that the waiter can tell a hand-off made after this attempt from an older one (handoff.ts)

  Errors (writing nothing) when fencing and the counter reached 2^53 - 1 (see lua-shared/fence.lua).
  Returns the fence (an integer; 0 when not bumped) when granted and the counter existed before (the usual case:
          a bare integer is the cheapest reply to build and to read),
          {1, fence, 0} when granted and the counter did not exist (a new resource, or a node that lost its
          data),
          {3, fence, remaining TTL in ms} when a release had handed the permits to this waiter already (its
          lease began then, not now),
          {0, ms until the earliest holder expires (-1: nobody holds; waiters ahead are in the way), this
          node's time in µs, and with ARGV[8] the fencing counter (0: none)} when the permits do not fit,
          {2, the limit the current holders use} when that differs from ARGV[4] (nothing granted; the waiter
          is not queued).
]]
-- The uncontended path first, before the shared functions below are defined (each definition builds a closure at
-- every run: see mutex/release.lua): a call's first attempt, or one without a place, on a semaphore that nobody
-- holds and nobody waits for, bumps an existing counter that has room and takes its permits. One EXISTS tells both:
-- the permits hash exists exactly while its ':used' is above 0 (every script deletes it when that reaches 0, and
-- it expires with the latest holder: lua-shared/semaphore.lua), and the queue while anyone waits. Anything else
-- about the fence (a missing counter, one that is not an integer, or none left) is left to the general path below.
--- @include "../lua-shared/bump.lua"
if (ARGV[6] == '' or string.byte(ARGV[6]) == 49) and tonumber(ARGV[5]) <= tonumber(ARGV[4]) -- '1': a first attempt
    and redis.call('EXISTS', KEYS[3], KEYS[4]) == 0 then
  local fence = 0
  if ARGV[3] == '1' then fence = bumpExisting() end
  if fence then
    local t = redis.call('TIME')
    local expires = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[2])
    redis.call('ZADD', KEYS[1], expires, ARGV[1])
    redis.call('HSET', KEYS[3], ARGV[1], ARGV[5], ':used', ARGV[5], ':limit', ARGV[4])
    -- The only holder: the keys live as long as it does.
    redis.call('PEXPIREAT', KEYS[1], expires)
    redis.call('PEXPIREAT', KEYS[3], expires)
    return fence
  end
end
--- @include "../lua-shared/fence.lua"
--- @include "../lua-shared/semaphore.lua"
--- @include "../lua-shared/place.lua"

local token, limit, wanted = ARGV[1], tonumber(ARGV[4]), tonumber(ARGV[5])
local first, lifetime, arrival, id = placeOf(ARGV[6])
local nowUs, nowMs = serverNow()
local used = prune(KEYS[1], KEYS[3], nowMs)

-- The limit is stored only while anyone holds.
if used > 0 then
  local held = tonumber(redis.call('HGET', KEYS[3], ':limit'))
  if held and held ~= limit then return {2, held} end
end

-- Permits a release handed to this waiter (semaphore/release.lua) are its grant, made then. Only those, marked as
-- handed: permits of an earlier attempt of the call are never taken for a grant (see below; on a quorum its undo
-- may still be on its way, and an undo that a later attempt overtook is not sent again: script.ts). Looked at before
-- the place is refreshed: on one node the hand-off dropped it, and a grant needs none (dropped again all the same,
-- in case anything put it back); on a quorum it stays, as with any grant there.
if not first and id ~= '' and used > 0 then
  local handedFence = redis.call('HGET', KEYS[3], token .. ':f')
  local expires = handedFence and redis.call('ZSCORE', KEYS[1], token)
  if expires then
    redis.call('HDEL', KEYS[3], token .. ':f')
    if ARGV[7] == '1' then dropWaiter(KEYS[4], KEYS[5], id) end
    return {3, tonumber(handedFence), tonumber(expires) - nowMs}
  end
end

local function register()
  if lifetime == 0 then return end
  redis.call('ZADD', KEYS[4], 'NX', arrival ~= '' and arrival or string.format('%.0f', nowUs), id)
  redis.call('HSET', KEYS[5], id,
    string.format('%.0f', nowMs + lifetime) .. ':' .. wanted .. ':' .. ARGV[2] .. ':' .. ARGV[3] .. ':' .. limit
      .. ':' .. token)
  -- The queue lasts as long as its newest place: once nobody refreshes, it goes away as a whole.
  redis.call('PEXPIRE', KEYS[4], lifetime)
  redis.call('PEXPIRE', KEYS[5], lifetime)
end
if not first then register() end

-- Permits that the live waiters ahead of the caller want; counting stops once the caller cannot fit anyway.
local room = limit - used - wanted
local ahead = 0
if room >= 0 then
  -- (On one node no queued waiter holds: see eachWaiter.)
  local holders = KEYS[1]
  if ARGV[7] == '1' then holders = nil end
  eachWaiter(KEYS[4], KEYS[5], holders, nowMs, function(waiter, permits)
    if waiter == id then return true end
    ahead = ahead + permits
    return ahead > room
  end)
end
-- A grant of this token that is still here (an earlier attempt of the call, its undo on its way) is not doubled.
if room < 0 or ahead > room or (used > 0 and redis.call('ZSCORE', KEYS[1], token)) then
  if first then register() end
  local earliest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2]
  local wait = earliest and (tonumber(earliest) - nowMs) or -1
  if ARGV[8] == '1' then return {0, wait, nowUs, tonumber(redis.call('GET', KEYS[2])) or 0} end
  return {0, wait, nowUs}
end

-- The fence first: a counter that cannot go higher refuses before anything is written.
local fence, existed = 0, 1
if ARGV[3] == '1' then fence, existed = nextFence(function() return nowUs end) end

local expires = nowMs + tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], expires, token)
redis.call('HSET', KEYS[3], token, wanted, ':used', used + wanted, ':limit', limit)
if used == 0 then
  -- The only holder: the keys live as long as it does.
  redis.call('PEXPIREAT', KEYS[1], expires)
  redis.call('PEXPIREAT', KEYS[3], expires)
else
  expireWithLatest(KEYS[1], KEYS[3])
end
-- (A call's first attempt has no place yet: nothing to drop on the uncontended path.)
if ARGV[7] == '1' and id ~= '' and not first then dropWaiter(KEYS[4], KEYS[5], id) end
if existed == 1 then return fence end
return {1, fence, 0}
