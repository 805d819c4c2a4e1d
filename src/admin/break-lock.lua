--[[
  Deletes every hold on the resource, whoever holds it (`quorumlock break`): the lock (a mutex or fair mode's
  lock, a read-write lock's write side), the read-write lock's readers, and the semaphore's holders of the same
  name. In the same step it wakes who waits, as releases do: the longest waiting writer (and the first in fair
  mode's queue, whose attempt then takes the lock), every live waiting reader, and the semaphore's live waiters
  whose permits fit in the limit (all of them when no limit is stored). The fencing counter stays: fences must
  never go down.

  KEYS[1] the lock key
  KEYS[2] the waiting queue (sorted set: waiter id -> first arrival, server µs)
  KEYS[3] a read-write lock's readers (sorted set: token -> expiry, server ms)
  KEYS[4] its waiting readers (sorted set: waiter id -> first arrival, server µs)
  KEYS[5] the waiting readers' heartbeats (hash: waiter id -> place expires at, server ms)
  KEYS[6] the semaphore's holders (sorted set: token -> expiry, server ms)
  KEYS[7] the semaphore's permits (hash: token -> permits, ':used' -> their sum, ':limit' -> the limit)
  KEYS[8] the semaphore's waiting queue (sorted set: waiter id -> arrival, server µs)
  KEYS[9] the semaphore's waiters' heartbeats (hash: waiter id -> "<place expires at, ms>:<permits>:…": see
          lua-shared/semaphore.lua)
  KEYS[10] fair mode's queue (sorted set: waiter id -> arrival, server µs)
  ARGV[1] the lock's channel (a waiter's manager listens on it suffixed with its tag: lua-shared/publish.lua)
  ARGV[2] an id of this release (see mutex/release.lua)

  Returns the number of holds deleted on this node: the lock counts 1, each reader and each semaphore holder 1
  (expired ones too, as they were still in their keys). Nothing is published when it is 0.
]]
--- @include "../lua-shared/wake.lua"
--- @include "../lua-shared/semaphore.lua"

local nowUs, nowMs = serverNow()
local limit = tonumber(redis.call('HGET', KEYS[7], ':limit'))
local deleted = redis.call('DEL', KEYS[1]) + redis.call('ZCARD', KEYS[3]) + redis.call('ZCARD', KEYS[6])
if deleted == 0 then return 0 end
redis.call('DEL', KEYS[3], KEYS[6], KEYS[7])

for _, queue in ipairs({KEYS[2], KEYS[10]}) do
  local head = redis.call('ZRANGE', queue, 0, 0)[1]
  if head then publishTo(ARGV[1], head, 'w:' .. head .. ':' .. ARGV[2]) end
end
wakeReaders(KEYS[4], KEYS[5], '+inf', function() return nowUs end, ARGV[1], ARGV[2])
-- Every permit is free now: the waiters at the head of the queue whose permits fit go, as after a release.
wakeWhoFits(KEYS[8], KEYS[9], KEYS[6], nowMs, limit or math.huge, ARGV[1], ARGV[2])
return deleted
