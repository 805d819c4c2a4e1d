--[[
  Fair mode's attempt (one node only): takes the lock when it is free and nobody has waited longer, else
  queues the caller (or refreshes its place) in arrival order. Also how a waiter finds out that the lock
  was handed to it while it was not listening.

  KEYS[1] the lock key
  KEYS[2] the fencing counter key
  KEYS[3] the queue (sorted set: waiter id -> arrival, server µs)
  KEYS[4] the waiters (hash: waiter id -> "<expires ms>:<ttl>:<fencing>:<token>")
  KEYS[5] a read-write lock's readers of the same name (sorted set: token -> expiry, server ms): while a live
          one holds, the lock is neither taken nor handed off
  ARGV[1] the caller's token
  ARGV[2] the TTL in milliseconds
  ARGV[3] "1" to bump the fencing counter, "0" to leave it alone
  ARGV[4] the caller's waiter id
  ARGV[5] how long the caller's place stays without a refresh, in ms; "0": do not queue (tryAcquire)
  ARGV[6] the lock's channel (hand-offs go to it suffixed with the waiter's tag: lua-shared/publish.lua)

  Errors (before taking the lock, leaving it as it was) when fencing and the counter reached 2^53 - 1 (see
  lua-shared/fence.lua): an attempt that only queues does not look at the counter.
  Returns {1, fence, remaining TTL in ms, server time in µs} when the caller holds the lock (taken now, or
          handed to it earlier; fence is 0 when fencing is off),
          {0, remaining TTL in ms of the holder (-2: just handed to a waiter ahead), or of the earliest
          reader's expiry, server time in µs}
          when it does not (queued unless ARGV[5] is "0").
]]
--- @include "../lua-shared/queue.lua"

local token, id = ARGV[1], ARGV[4]
local nowUs = serverNow()
local nowMs = math.floor(nowUs / 1000)

local holder = redis.call('GET', KEYS[1])
if holder == token then
  dequeue(id)
  local fence = 0
  if ARGV[3] == '1' then fence = tonumber(redis.call('GET', KEYS[2])) or 0 end
  return {1, fence, redis.call('PTTL', KEYS[1]), nowUs}
end

-- Readers share the lock (docs/rwlock.md): wait in the queue for the last one. One EXISTS when there are none,
-- and none while someone else holds: the lock key and live readers exclude each other (rwlock/acquire.lua).
local readersLeft
if not holder and redis.call('EXISTS', KEYS[5]) == 1 then
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', nowMs)
  local first = redis.call('ZRANGE', KEYS[5], 0, 0, 'WITHSCORES')
  if first[1] then readersLeft = tonumber(first[2]) - nowMs end
end

if not holder and not readersLeft then
  local head = liveHead(nowMs)
  if not head or head == id then
    -- The fence first: a counter with no fence left refuses before anything is written.
    local fence = 0
    if ARGV[3] == '1' then fence = nextFence(function() return nowUs end) end
    redis.call('SET', KEYS[1], token, 'PX', ARGV[2])
    dequeue(id)
    return {1, fence, tonumber(ARGV[2]), nowUs}
  end
  -- Free, but someone has waited longer (the holder expired, or a non-fair holder released): theirs.
  handOff(nowUs, ARGV[6])
end

if ARGV[5] ~= '0' then
  redis.call('ZADD', KEYS[3], 'NX', nowUs, id)
  local lifetime = tonumber(ARGV[5])
  redis.call('HSET', KEYS[4], id, (nowMs + lifetime) .. ':' .. ARGV[2] .. ':' .. ARGV[3] .. ':' .. token)
  -- Every place lasts this long at most, so once nobody refreshes, the whole queue goes away.
  redis.call('PEXPIRE', KEYS[3], lifetime)
  redis.call('PEXPIRE', KEYS[4], lifetime)
end
return {0, readersLeft or redis.call('PTTL', KEYS[1]), nowUs}
