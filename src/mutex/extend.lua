--[[
  Extends the lock if, and only if, the owner still holds it. An expired key is never re-created.

  KEYS[1] the lock key
  ARGV[1] the owner's token
  ARGV[2] the new TTL in milliseconds

  Returns 1 when extended, 0 when the key is missing or belongs to someone else.
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
