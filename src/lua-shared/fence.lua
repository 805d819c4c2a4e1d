-- The fencing counter's bound, shared by mutex/acquire.lua and lua-shared/queue.lua (pasted in by
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
