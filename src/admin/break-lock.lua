--[[
  Deletes the lock whoever holds it (`quorumlock break`), and in the same step wakes the longest waiter, as a
  release does. The fencing counter stays: fences must never go down.

  KEYS[1] the lock key
  KEYS[2] the waiting queue (sorted set: waiter id -> first arrival, server µs)
  ARGV[1] the channel waiters listen on
  ARGV[2] an id of this release (see mutex/release.lua)

  Returns 1 when a lock was deleted, 0 when there was none (nothing is published then).
]]
if redis.call('DEL', KEYS[1]) == 1 then
  local head = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
  if head then redis.call('PUBLISH', ARGV[1], 'w:' .. head .. ':' .. ARGV[2]) end
  return 1
end
return 0
