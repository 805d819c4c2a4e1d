--[[
  Fair mode's release (one node only): compare-and-delete, then hands the lock straight to the longest-
  waiting live waiter (new token, fence bumped, told on the channel). With nobody queued it announces a
  plain release, as mutex/release.lua does. Also how a waiter leaves the queue (abort, timeout): it drops
  its place and, if the lock was handed to it meanwhile, passes the lock on.

  KEYS[1] the lock key
  KEYS[2] the fencing counter key
  KEYS[3] the queue (sorted set: waiter id -> arrival, server µs)
  KEYS[4] the waiters (hash: waiter id -> "<expires ms>:<ttl>:<fencing>:<token>")
  ARGV[1] the owner's token
  ARGV[2] the channel
  ARGV[3] the message for a plain release: an id of this release (see mutex/release.lua)
  ARGV[4] a waiter id to drop from the queue, or "" for none

  Returns 2 when the owner's lock was handed to a waiter, 1 when it was deleted and announced (nobody
  waited), 0 when it was not the owner's.
]]
--- @include "../lua-shared/queue.lua"

if ARGV[4] ~= '' then dequeue(ARGV[4]) end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1])
if handOff(serverMicros(), ARGV[2]) then
  return 2
end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
