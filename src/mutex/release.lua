--[[
  Deletes the lock if, and only if, the owner still holds it (compare-and-delete), and in the same step
  tells waiters that it is free, so none of them has to poll.

  KEYS[1] the lock key
  ARGV[1] the owner's token
  ARGV[2] the channel waiters listen on (a channel is not a key: on Redis Cluster PUBLISH reaches every node)
  ARGV[3] the message: an id of this release that does not reveal the token (waiters de-duplicate the
          copies published by each node of a quorum)

  Returns 1 when deleted, 0 when the key is missing or belongs to someone else (nothing is published then).
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], ARGV[3])
  return 1
end
return 0
