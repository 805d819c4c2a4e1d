--[[
  Reads one lock as it stands on this node, in one step, so that the token and its TTL belong together
  (`quorumlock status`). Changes nothing.

  KEYS[1] the lock key
  KEYS[2] the fencing counter key
  KEYS[3] fair mode's waiters (hash: waiter id -> "<expires ms>:<ttl>:<fencing>:<token>")
  KEYS[4] a read-write lock's readers (sorted set: token -> expiry, server ms)
  KEYS[5] the semaphore's holders of the same name (sorted set: token -> expiry, server ms)
  KEYS[6] the semaphore's permits (hash: token -> permits, ':limit' -> the limit while anyone holds)
  KEYS[7] the lock's waiters in the default mode (hash: waiter id -> "<expires ms>:<ttl>:<fencing>:<token>")
  KEYS[8] the read-write lock's waiting readers (hash: waiter id -> expires ms)
  KEYS[9] the semaphore's waiters (hash: waiter id -> "<expires ms>:<permits wanted>:…": lua-shared/semaphore.lua)

  Returns {token or nil, remaining TTL in ms (-2: no lock, -1: no expiry), fencing counter or nil,
           waiters queued for the lock (default and fair mode), {reader token, ms left, …} of live readers,
           {holder token, permits, ms left, …} of the semaphore's live holders, the semaphore's limit or nil,
           readers waiting, waiters for the semaphore's permits}, counting only places not yet expired, and not
           the places of a holder (in quorum mode a waiter's place stays queued while it holds, until its call
           drops it).
]]
--- @include "../lua-shared/clock.lua"
local _, nowMs = serverNow()
-- Live places in a waiters' hash: every kind of place opens with its expiry (server ms), and a writer's or a
-- semaphore waiter's ends with its token; places of a token in `holding` (a set) are not counted.
local function waiting(key, holding)
  local count = 0
  for _, entry in ipairs(redis.call('HVALS', key)) do
    local expires = tonumber(string.match(entry, '^%d+'))
    local token = holding and string.match(entry, ':([^:]+)$')
    if expires and expires > nowMs and not (token and holding[token]) then count = count + 1 end
  end
  return count
end
local lockHolder = redis.call('GET', KEYS[1])
local holdsLock = {}
if lockHolder then holdsLock[lockHolder] = true end
-- Live members of a sorted set scored by expiry, as {member, ms left, …} (expired ones are not shown).
local function live(key, withPermits)
  local out = {}
  local members = redis.call('ZRANGEBYSCORE', key, '(' .. nowMs, '+inf', 'WITHSCORES')
  for i = 1, #members, 2 do
    out[#out + 1] = members[i]
    if withPermits then out[#out + 1] = tonumber(redis.call('HGET', KEYS[6], members[i])) or 0 end
    out[#out + 1] = tonumber(members[i + 1]) - nowMs
  end
  return out
end
local permitHolders = live(KEYS[5], true)
local holdsPermits = {}
for i = 1, #permitHolders, 3 do holdsPermits[permitHolders[i]] = true end
return {lockHolder, redis.call('PTTL', KEYS[1]), redis.call('GET', KEYS[2]),
  waiting(KEYS[3], holdsLock) + waiting(KEYS[7], holdsLock), live(KEYS[4], false), permitHolders,
  redis.call('HGET', KEYS[6], ':limit'), waiting(KEYS[8]), waiting(KEYS[9], holdsPermits)}
