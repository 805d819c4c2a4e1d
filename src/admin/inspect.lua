--[[
  Reads one lock as it stands on this node, in one step, so that the token and its TTL belong together
  (`quorumlock status`). Changes nothing.

  KEYS[1] the lock key
  KEYS[2] the fencing counter key
  KEYS[3] fair mode's waiters (hash: waiter id -> "<expires ms>:<ttl>:<fencing>:<token>")

  Returns {token or nil, remaining TTL in ms (-2: no lock, -1: no expiry), fencing counter or nil,
           fair waiters queued (places not yet expired)}.
]]
local t = redis.call('TIME')
local nowMs = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local waiting = 0
for _, entry in ipairs(redis.call('HVALS', KEYS[3])) do
  local expires = tonumber(string.match(entry, '^(%d+):'))
  if expires and expires > nowMs then waiting = waiting + 1 end
end
return {redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1]), redis.call('GET', KEYS[2]), waiting}
