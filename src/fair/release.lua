--[[
  Fair mode's release (one node only): compare-and-delete, then hands the lock straight to the longest-
  waiting live waiter (new token, fence bumped, told on the channel). With no fair waiter queued it wakes the
  longest non-fair waiter (mutex/release.lua's queue), if any, and the waiting readers of a read-write lock of
  the same name that queued before it (all of them when no writer waits), as mutex/release.lua does. Also how a
  waiter leaves the queue (abort, timeout): it drops its place and, if the lock was handed to it meanwhile,
  passes the lock on.

  KEYS[1] the lock key
  KEYS[2] the fencing counter key
  KEYS[3] the queue (sorted set: waiter id -> arrival, server µs)
  KEYS[4] the waiters (hash: waiter id -> "<expires ms>:<ttl>:<fencing>:<token>")
  KEYS[5] the non-fair waiting queue (sorted set: waiter id -> first arrival, server µs)
  KEYS[6] a read-write lock's waiting readers (sorted set: waiter id -> first arrival, server µs)
  KEYS[7] the waiting readers' heartbeats (hash: waiter id -> place expires at, server ms)
  ARGV[1] the owner's token
  ARGV[2] the lock's channel (wake-ups and hand-offs go to it suffixed with the waiter's tag: lua-shared/publish.lua)
  ARGV[3] a waiter id to drop from the queue, or "" for none
  ARGV[4] an id of this release (in the wake-up of a non-fair waiter: "w:<waiter id>:<release id>")

  Returns 2 when the owner's lock was handed to a waiter, 1 when it was deleted, 0 when it was not the owner's.
]]
--- @include "../lua-shared/queue.lua"
--- @include "../lua-shared/wake.lua"

if ARGV[3] ~= '' then dequeue(ARGV[3]) end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
-- A hand-off sets the lock to the waiter's token; only a lock nobody waits for is deleted.
local nowUs = serverNow()
if handOff(nowUs, ARGV[2]) then
  return 2
end
redis.call('DEL', KEYS[1])
local head = redis.call('ZRANGE', KEYS[5], 0, 0, 'WITHSCORES')
wakeReaders(KEYS[6], KEYS[7], head[1] and '(' .. head[2] or '+inf', function() return nowUs end, ARGV[2], ARGV[4])
if head[1] then publishTo(ARGV[2], head[1], 'w:' .. head[1] .. ':' .. ARGV[4]) end
return 1
