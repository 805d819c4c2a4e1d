-- The fencing counter's bound and its usual bump (pasted in by scripts/gen-lua.mjs; lua-shared/fence.lua has the
-- rest). KEYS[2] is the fencing counter key. Counters are doubles in Lua and numbers in JavaScript, exact up to
-- 2^53 - 1: above that `counter + 1` equals `counter`, and fences would stop rising.
local MAX_FENCE = 9007199254740991

-- The next fence when the counter exists and has room (the steady state), or nil with the counter left as it was:
-- a missing counter, one that is not an integer, or one with no fence left are nextFence's (lua-shared/fence.lua).
-- One function, so that an acquire's uncontended path can bump before the rest of the shared code is defined.
local function bumpExisting()
  local ok, fence = pcall(redis.call, 'INCR', KEYS[2])
  if ok and fence > 1 and fence <= MAX_FENCE then return fence end
  if ok then redis.call('DECR', KEYS[2]) end
  return nil
end
