-- Fair mode's queue, shared by fair/acquire.lua and fair/release.lua (pasted in by scripts/gen-lua.mjs).
--   KEYS[1] the lock key          KEYS[2] the fencing counter key
--   KEYS[3] the queue: a sorted set of waiter ids, scored by arrival (server time in µs)
--   KEYS[4] the waiters: a hash of waiter id -> "<expires at, server ms>:<ttl ms>:<fencing 0|1>:<token>"
-- A waiter id is public (it goes out in the hand-off message); the token, the right to release, never does.

--- @include "fence.lua"
--- @include "publish.lua"

local function serverMicros()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

local function dequeue(id)
  redis.call('ZREM', KEYS[3], id)
  redis.call('HDEL', KEYS[4], id)
end

-- The longest-waiting live waiter: id, ttl, fencing flag, token. Entries that expired (a waiter that
-- crashed or stopped refreshing) are dropped on the way, so a vanished waiter never wedges the queue.
local function liveHead(nowMs)
  while true do
    local id = redis.call('ZRANGE', KEYS[3], 0, 0)[1]
    if not id then return nil end
    local entry = redis.call('HGET', KEYS[4], id)
    if entry then
      local expires, ttl, fencing, token = string.match(entry, '^(%d+):(%d+):([01]):(.+)$')
      if expires and tonumber(expires) > nowMs then return id, ttl, fencing, token end
    end
    dequeue(id)
  end
end

-- Gives the free lock to the longest-waiting live waiter, bumps the fence for it, and tells it on the
-- channel: "h:<id>:<fence>:<server time in µs>", so it holds the lock without another round trip.
-- Returns true when someone was waiting.
local function handOff(nowUs, channel)
  local id, ttl, fencing, token = liveHead(math.floor(nowUs / 1000))
  if not id then return false end
  -- The fence as mutex/acquire.lua bumps it (fence.lua). None left to give: announce a plain release (nothing
  -- was written); the waiter's next attempt gets the error.
  local fence = 0
  if fencing == '1' then
    local ok, bumped = pcall(nextFence, function() return nowUs end)
    if not ok then return false end
    fence = bumped
  end
  redis.call('SET', KEYS[1], token, 'PX', ttl)
  dequeue(id)
  publishTo(channel, id,
    'h:' .. id .. ':' .. string.format('%.0f', fence) .. ':' .. string.format('%.0f', nowUs))
  return true
end
