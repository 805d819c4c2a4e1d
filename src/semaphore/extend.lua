--[[
  Extends the caller's permits to expire TTL ms from now if, and only if, it still holds them here (an expired
  holder is never brought back). The keys then live as long as the latest holder.

  KEYS[1] the holders (sorted set: token -> expiry, server ms)
  KEYS[2] the permits (hash: token -> permits, ':used' -> their sum, ':limit' -> the limit while anyone holds)
  ARGV[1] the owner's token
  ARGV[2] the new TTL in milliseconds

  Returns 1 when extended, 0 when the caller holds no permits here.
]]
--- @include "../lua-shared/semaphore.lua"

local _, nowMs = serverNow()
prune(KEYS[1], KEYS[2], nowMs)
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], 'XX', nowMs + tonumber(ARGV[2]), ARGV[1])
expireWithLatest(KEYS[1], KEYS[2])
return 1
