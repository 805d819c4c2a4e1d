--[[
  Deletes the lock whoever holds it (`quorumlock break`), and in the same step wakes the waiters, as a
  release does. The fencing counter stays: fences must never go down.

  KEYS[1] the lock key
  ARGV[1] the channel waiters listen on
  ARGV[2] the message: an id of this release (see mutex/release.lua)

  Returns 1 when a lock was deleted, 0 when there was none (nothing is published then).
]]
if redis.call('DEL', KEYS[1]) == 1 then
  redis.call('PUBLISH', ARGV[1], ARGV[2])
  return 1
end
return 0
