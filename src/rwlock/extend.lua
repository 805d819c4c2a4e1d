--[[
  Extends a reader's hold if, and only if, it is still live: an expired reader is never brought back.

  KEYS[1] the readers (sorted set: token -> expiry, server ms)
  ARGV[1] the reader's token
  ARGV[2] the new TTL in milliseconds

  Returns 1 when extended, 0 when the reader holds nothing here (gone or expired).
]]
--- @include "../lua-shared/clock.lua"
local _, nowMs = serverNow()
local expires = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]))
if not expires or expires <= nowMs then return 0 end
redis.call('ZADD', KEYS[1], 'XX', nowMs + tonumber(ARGV[2]), ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', KEYS[1], tonumber(last[2]) - nowMs)
return 1
