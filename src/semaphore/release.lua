--[[
  Frees the caller's permits if, and only if, it still holds them, drops a waiter's place, and in the same step
  wakes the waiters at the head of the queue whose permits now fit (in arrival order, stopping at the first that
  does not: the ones behind it could not take permits anyway). Also how a waiter leaves the queue (ARGV[1] "").

  KEYS[1] the holders (sorted set: token -> expiry, server ms)
  KEYS[2] the permits (hash: token -> permits, ':used' -> their sum, ':limit' -> the limit while anyone holds)
  KEYS[3] the waiting queue (sorted set: waiter id -> arrival, server µs)
  KEYS[4] the waiters' heartbeats (hash: waiter id -> "<place expires at, server ms>:<permits wanted>:<token>")
  ARGV[1] the owner's token, or "" to free nothing (a waiter that leaves)
  ARGV[2] a waiter id to drop from the queue (the owner's own place, or a waiter that leaves), or ""
  ARGV[3] who to wake, "<limit>:<release id>:<channel>" in one argument (read only when someone may be woken:
          see lua-shared/place.lua for why): the caller's limit (used for the wake-ups when nobody holds any
          more, so no limit is stored); an id of this release, the same on every node (so that a waiter knows
          the copies of one wake-up); the lock's channel: a waiter's manager listens on it suffixed with its tag
          (lua-shared/publish.lua); a channel is not a key: on Redis Cluster PUBLISH reaches every node

  Returns 1 when the token held permits here (now freed), 0 when not. Publishes "w:<waiter id>:<release id>" to
  each waiter it wakes (none when nothing was freed or dropped).
]]
-- The uncontended path first, before the shared functions below are defined (each costs a closure at every run:
-- see mutex/release.lua). The caller's permits and everyone's, in one look:
local mine, used
if ARGV[1] ~= '' then
  local got = redis.call('HMGET', KEYS[2], ARGV[1], ':used')
  mine, used = tonumber(got[1]), tonumber(got[2]) or 0
end
-- The only holder, and a live one: the keys live as long as their latest holder, this one.
local only = ARGV[2] == '' and mine and used <= mine
if only then
  -- Everything goes, with no clock and nothing to prune; nothing to wake when nobody waits.
  redis.call('DEL', KEYS[1], KEYS[2])
  if redis.call('EXISTS', KEYS[3]) == 0 then return 1 end
end
--- @include "../lua-shared/semaphore.lua"

local held, freed, nowMs = 0, false, nil
if only then
  held, freed, used = 1, true, 0
else
  if ARGV[2] ~= '' and dropWaiter(KEYS[3], KEYS[4], ARGV[2]) then freed = true end
  nowMs = select(2, serverNow())
  local dropped
  used, dropped = prune(KEYS[1], KEYS[2], nowMs, used)
  freed = freed or dropped
  -- A live holder's permits are in the hash (prune dropped the expired ones', so look again if it dropped any).
  if dropped then mine = used > 0 and ARGV[1] ~= '' and tonumber(redis.call('HGET', KEYS[2], ARGV[1])) end
  if mine then
    held = 1
    freed = true
    used = used - mine
    if used <= 0 then
      redis.call('DEL', KEYS[1], KEYS[2])
      used = 0
    else
      redis.call('ZREM', KEYS[1], ARGV[1])
      redis.call('HDEL', KEYS[2], ARGV[1])
      redis.call('HSET', KEYS[2], ':used', used)
      expireWithLatest(KEYS[1], KEYS[2])
    end
  end
end
if not freed then return held end

-- Nobody holds any more: no limit is stored, the caller's applies. (The clock is read only if someone waits.)
local ownLimit, releaseId, channel = string.match(ARGV[3], '^(%d+):([^:]*):(.*)$')
local limit = used > 0 and tonumber(redis.call('HGET', KEYS[2], ':limit')) or tonumber(ownLimit)
wakeWhoFits(KEYS[3], KEYS[4], KEYS[1], nowMs, limit - used, channel, releaseId)
return held
