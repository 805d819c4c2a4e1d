-- The fencing counter's bound and bump, shared by every script that hands out fences (pasted in by
-- scripts/gen-lua.mjs). KEYS[2] is the fencing counter key.
-- Counters are doubles in Lua and numbers in JavaScript, exact up to 2^53 - 1: above that `counter + 1` equals
-- `counter`, and fences would stop rising. At one per microsecond (the clock floor) that is two centuries away,
-- so only a counter set by hand gets there; a script that finds one refuses before it writes anything.
local MAX_FENCE = 9007199254740991

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
  local ok, fence = pcall(redis.call, 'INCR', KEYS[2])
  if not ok or fence > MAX_FENCE then
    if ok then redis.call('DECR', KEYS[2]) end
    fenceCounter()
    error({err = 'ERR the fencing counter ' .. KEYS[2] .. ' does not hold an integer'})
  end
  if fence > 1 then return fence, 1 end
  fence = math.max(fence, clock())
  redis.call('SET', KEYS[2], string.format('%.0f', fence))
  return fence, 0
end
