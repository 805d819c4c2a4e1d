--[[
  Reads one lock as it stands on this node, in one step, so that the token and its TTL belong together
  (`quorumlock status`). Changes nothing.

  KEYS[1] the lock key
  KEYS[2] the fencing counter key

  Returns {token or nil, remaining TTL in ms (-2: no lock, -1: no expiry), fencing counter or nil}.
]]
return {redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1]), redis.call('GET', KEYS[2])}
