-- The fencing counter's bump, shared by every script that hands out fences (pasted in by scripts/gen-lua.mjs).
-- KEYS[2] is the fencing counter key. Its bound, MAX_FENCE (2^53 - 1), is in bump.lua: at one per microsecond (the
-- clock floor) that is two centuries away, so only a counter set by hand gets there; a script that finds one
-- refuses before it writes anything.
--- @include "bump.lua"

-- The counter (nil when missing), or an error reply when no fence above it can be handed out.
local function fenceCounter()
  local counter = tonumber(redis.call('GET', KEYS[2]))
  if counter and counter >= MAX_FENCE then
    error({err = 'ERR the fencing counter ' .. KEYS[2] .. ' reached 2^53 - 1, the highest exact ' ..
      'fence; no higher fence can be handed out'})
  end
  return counter
end

-- The next fence, for a lease granted now: one more than the counter, and a missing counter (a new resource, or
-- a node that lost its data) starts at `clock()`, the server's time in µs, so a node that restarted empty still
-- hands out fences above those it gave before. Returns the fence and 1 if the counter existed (0 if not). Raises
-- an error reply, leaving the counter as it was, when no fence is left (or the counter is not an integer).
local function nextFence(clock)
  local fence = bumpExisting()
  if fence then return fence, 1 end
  -- The counter, left as it was, is missing (or at 0 or below), not an integer, or has no fence left.
  fenceCounter()
  local ok, bumped = pcall(redis.call, 'INCR', KEYS[2])
  if not ok then error({err = 'ERR the fencing counter ' .. KEYS[2] .. ' does not hold an integer'}) end
  fence = math.max(bumped, clock())
  redis.call('SET', KEYS[2], string.format('%.0f', fence))
  return fence, 0
end
