-- Fair mode's queue, shared by fair/acquire.lua and fair/release.lua (pasted in by scripts/gen-lua.mjs).
--   KEYS[1] the lock key          KEYS[2] the fencing counter key
--   KEYS[3] the queue: a sorted set of waiter ids, scored by arrival (server time in µs)
--   KEYS[4] the waiters: a hash of waiter id -> "<expires at, server ms>:<ttl ms>:<fencing 0|1>:<token>"
-- The hand-off itself is lua-shared/hand-off.lua's, shared with the mutex's release on one node.

--- @include "hand-off.lua"
--- @include "clock.lua"

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
    local expires, ttl, fencing, token = placeParts(redis.call('HGET', KEYS[4], id))
    if expires and tonumber(expires) > nowMs then return id, ttl, fencing, token end
    dequeue(id)
  end
end

-- Gives the free lock to the longest-waiting live waiter, bumping the fence for it, and tells it on the channel
-- (lua-shared/hand-off.lua), so it holds the lock without another round trip. Returns true when someone was
-- waiting and got it (a counter with no fence left hands nothing off: the waiter's next attempt gets the error).
local function handOff(nowUs, channel)
  local id, ttl, fencing, token = liveHead(math.floor(nowUs / 1000))
  if not id then return false end
  return handTo(id, ttl, fencing, token, nowUs, channel, false)
end
