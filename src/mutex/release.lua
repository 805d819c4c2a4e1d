--[[
  Deletes the lock if, and only if, the owner still holds it (compare-and-delete).

  KEYS[1] the lock key
  ARGV[1] the owner's token

  Returns 1 when deleted, 0 when the key is missing or belongs to someone else.
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
