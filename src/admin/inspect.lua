--[[
  Reads one lock as it stands on this node, in one step, so that the token and its TTL belong together
  (`quorumlock status`). Changes nothing.

  KEYS[1] the lock key
  KEYS[2] the fencing counter key
  KEYS[3] fair mode's waiters (hash: waiter id -> "<expires ms>:<ttl>:<fencing>:<token>")
  KEYS[4] a read-write lock's readers (sorted set: token -> expiry, server ms)
  KEYS[5] the semaphore's holders of the same name (sorted set: token -> expiry, server ms)
  KEYS[6] the semaphore's permits (hash: token -> permits, ':limit' -> the limit while anyone holds)

  Returns {token or nil, remaining TTL in ms (-2: no lock, -1: no expiry), fencing counter or nil,
           fair waiters queued (places not yet expired), {reader token, ms left, …} of live readers,
           {holder token, permits, ms left, …} of the semaphore's live holders, the semaphore's limit or nil}.
]]
--- @include "../lua-shared/clock.lua"
local _, nowMs = serverNow()
local waiting = 0
for _, entry in ipairs(redis.call('HVALS', KEYS[3])) do
  local expires = tonumber(string.match(entry, '^(%d+):'))
  if expires and expires > nowMs then waiting = waiting + 1 end
end
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
return {redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1]), redis.call('GET', KEYS[2]), waiting,
  live(KEYS[4], false), live(KEYS[5], true), redis.call('HGET', KEYS[6], ':limit')}
