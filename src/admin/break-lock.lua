--[[
  Deletes the lock whoever holds it (`quorumlock break`), and in the same step wakes the longest waiter, as a
  release does. The fencing counter stays: fences must never go down.

  KEYS[1] the lock key
  KEYS[2] the waiting queue (sorted set: waiter id -> first arrival, server µs)
  ARGV[1] the lock's channel (a waiter's manager listens on it suffixed with its tag: lua-shared/publish.lua)
  ARGV[2] an id of this release (see mutex/release.lua)

  Returns 1 when a lock was deleted, 0 when there was none (nothing is published then).
]]
--- @include "../lua-shared/publish.lua"
if redis.call('DEL', KEYS[1]) == 1 then
  local head = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
  if head then publishTo(ARGV[1], head, 'w:' .. head .. ':' .. ARGV[2]) end
  return 1
end
return 0
