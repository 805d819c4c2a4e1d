--[[
  Quorum mode's second round: raises the fencing counter to the lease's fence (the highest any node
  reported), but only while this node still holds the lock for the owner. A later holder must take the lock
  on a majority, which overlaps the majority written here, and can only do so after this owner's key is gone
  from those nodes, so its own bump starts above this fence. Every node also says how high its counter is,
  which restores the counter of a node that lost it (see attemptMutex).

  KEYS[1] the key that holds the lease: a lock key (a string: the owner's token), or a holders key (a sorted set:
          token -> expiry in server ms, as a semaphore's permits or a read-write lock's readers)
  KEYS[2] the fencing counter key
  ARGV[1] the owner's token
  ARGV[2] the fence to write back

  Returns {1, counter} when written (or the counter was already at least that high),
          {0, counter} when the lock is not the owner's here (nothing written); counter is 0 when missing.
]]
--- @include "../lua-shared/clock.lua"
local current = tonumber(redis.call('GET', KEYS[2])) or 0
local function holds()
  local kind = redis.call('TYPE', KEYS[1]).ok
  if kind == 'string' then return redis.call('GET', KEYS[1]) == ARGV[1] end
  if kind ~= 'zset' then return false end
  local expires = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]))
  if not expires then return false end
  return expires > select(2, serverNow())
end
if not holds() then
  return {0, current}
end
if current < tonumber(ARGV[2]) then
  redis.call('SET', KEYS[2], ARGV[2])
  current = tonumber(ARGV[2])
end
return {1, current}
