--[[
  A read-write lock's read side (docs/rwlock.md): a shared hold, granted while no writer holds the lock (the
  mutex of the same name, or a lock kept for a writer) and no live writer waits ahead of this reader, and the
  resource's fencing counter bumped as the mutex bumps it. Expired readers are dropped on the way. A waiting
  reader also queues (or refreshes its place) here, at the arrival it brings, whether it gets the hold or not.

  KEYS[1] the lock key (the write side)
  KEYS[2] the fencing counter key
  KEYS[3] the writers' waiting queue (sorted set: waiter id -> first arrival, server µs)
  KEYS[4] the writers' heartbeats (hash: waiter id -> "<place expires at, server ms>:…", lua-shared/wake.lua)
  KEYS[5] the readers (sorted set: token -> expiry, server ms)
  KEYS[6] the readers' waiting queue (sorted set: waiter id -> first arrival, server µs)
  KEYS[7] the waiting readers' heartbeats (hash: waiter id -> place expires at, server ms)
  KEYS[8] fair mode's queue of writers (sorted set: waiter id -> arrival, server µs)
  KEYS[9] fair mode's waiters (hash: waiter id -> "<expires ms>:<ttl>:<fencing>:<token>")
  ARGV[1] the reader's token
  ARGV[2] the TTL in milliseconds
  ARGV[3] "1" to bump the fencing counter, "0" to leave it alone
  ARGV[4] the waiter's place: "" for an attempt without one (tryRead), else "<first>:<lifetime>:<arrival>:<waiter
          id>" (lua-shared/place.lua): first "1" to (re)register only when the hold is not granted (a call's first
          attempt), "0" win or lose; lifetime: how long the place lasts without a refresh, in ms ("0": do not
          (re)register now); arrival: the waiter's arrival (µs, as the nodes' clocks told it), or "" for this
          node's time

  Errors (granting nothing) when fencing and the counter reached 2^53 - 1 (see lua-shared/fence.lua).
  Returns {1, fence, 1 if the counter existed before} when granted (fence 0 and the flag 1 when not bumped),
          {0, ms after which to look again (the writer's remaining TTL; 0 when a writer waits: its release
          wakes this reader), this node's time in µs} when not.
]]
--- @include "../lua-shared/fence.lua"
--- @include "../lua-shared/wake.lua"
--- @include "../lua-shared/fair-head.lua"
--- @include "../lua-shared/place.lua"
--- @include "../lua-shared/clock.lua"

local token = ARGV[1]
local first, lifetime, arrival, id = placeOf(ARGV[4])
local nowUs, nowMs = serverNow()

local function register()
  if lifetime == 0 then return end
  redis.call('ZADD', KEYS[6], 'NX', arrival ~= '' and arrival or string.format('%.0f', nowUs), id)
  redis.call('HSET', KEYS[7], id, string.format('%.0f', nowMs + lifetime))
  -- The queue lasts as long as its newest place: once nobody refreshes, it goes away as a whole.
  redis.call('PEXPIRE', KEYS[6], lifetime)
  redis.call('PEXPIRE', KEYS[7], lifetime)
end
local function refused(retry)
  if first then register() end
  return {0, retry, nowUs}
end
if not first then register() end

local pttl = redis.call('PTTL', KEYS[1])
if pttl ~= -2 then return refused(pttl) end

-- Writer preference: a live waiting writer keeps new readers out, so a stream of readers cannot starve it. A
-- reader that queued before it is let in: it waited first, and is only one of a bounded set.
local mine = id ~= '' and tonumber(redis.call('ZSCORE', KEYS[6], id)) or nil
local function ahead(arrival)
  return not mine or tonumber(arrival) <= mine
end
local function writerAhead()
  local writer, arrival = liveWriter(KEYS[3], KEYS[4], function() return nowUs end)
  if writer then return ahead(arrival) end
  -- Fair mode's live head counts too.
  local fair, fairArrival = liveFairHead(KEYS[8], KEYS[9], nowMs)
  return fair ~= nil and ahead(fairArrival)
end
if writerAhead() then return refused(0) end

local fence, existed = 0, 1
if ARGV[3] == '1' then fence, existed = nextFence(function() return nowUs end) end

redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', nowMs)
redis.call('ZADD', KEYS[5], nowMs + tonumber(ARGV[2]), token)
-- The set lasts as long as its longest-lived reader.
local last = redis.call('ZRANGE', KEYS[5], -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', KEYS[5], tonumber(last[2]) - nowMs)
return {1, fence, existed}
