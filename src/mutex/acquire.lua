--[[
  Takes the lock if it is free and, in the same step, bumps the resource's fencing counter.
  The counter never falls below the server's clock in microseconds, so a node that restarted without its
  data still hands out a fence above the ones it gave before the restart (as long as its clock moved on).

  KEYS[1] the lock key
  KEYS[2] the fencing counter key
  ARGV[1] the owner's token
  ARGV[2] the TTL in milliseconds
  ARGV[3] "1" to bump the fencing counter, "0" to leave it alone

  Errors (before writing anything) when fencing and the counter reached 2^53 - 1 (see lua-shared/fence.lua).
  Returns {1, fence, 1 if the counter existed before (0: a new resource, or a node that lost its data)} when
          the lock was taken (fence is 0 and the flag 1 when not bumped),
          {0, remaining TTL in ms of the current holder (-1: the key has no TTL)} when it is held.
]]
--- @include "../lua-shared/fence.lua"

-- Checked before anything is written: a refusal leaves no key behind.
local counter
if ARGV[3] == '1' then counter = fenceCounter() end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  if ARGV[3] == '1' then
    local t = redis.call('TIME')
    local floor = tonumber(t[1]) * 1000000 + tonumber(t[2])
    local fence = math.max((counter or 0) + 1, floor)
    redis.call('SET', KEYS[2], string.format('%.0f', fence))
    return {1, fence, counter and 1 or 0}
  end
  return {1, 0, 1}
end
return {0, redis.call('PTTL', KEYS[1])}
