--[[
  Ends a reader's hold (compare-and-remove its token), and when it was the last live reader wakes the first
  live waiting writer alone (keeping the lock for it, "r:" + its id, once it has waited long enough, as
  mutex/release.lua does), else the first live fair-mode writer of the same name (its next attempt takes the free
  lock), or, with no writer waiting, every live waiting reader. Also how a waiting reader leaves its queue
  (ARGV[2]). Places not refreshed in time (crashed waiters) are dropped on the way.

  KEYS[1] the lock key (the write side)
  KEYS[2] the writers' waiting queue (sorted set: waiter id -> first arrival, server µs)
  KEYS[3] the writers' heartbeats (hash: waiter id -> "<place expires at, server ms>:…", lua-shared/wake.lua)
  KEYS[4] the readers (sorted set: token -> expiry, server ms)
  KEYS[5] the readers' waiting queue (sorted set: waiter id -> first arrival, server µs)
  KEYS[6] the waiting readers' heartbeats (hash: waiter id -> place expires at, server ms)
  KEYS[7] fair mode's queue of writers (sorted set: waiter id -> arrival, server µs)
  KEYS[8] fair mode's waiters (hash: waiter id -> "<expires ms>:<ttl>:<fencing>:<token>")
  ARGV[1] the reader's token
  ARGV[2] a reader's waiter id to drop from its queue first, or ""
  ARGV[3] "<keep>:<starving>:<hand off>:<release id>:<channel>", as mutex/release.lua takes it
          (lua-shared/release-args.lua): how long a lock kept for a writer stays kept, in ms ("0": keep it for
          nobody, as when a failed attempt undoes what it took); how long a writer waits before the lock is kept
          for it, in µs; hand off (unused here: a reader never hands the lock over); an id of this release, the
          same on every node; the lock's channel (a waiter's manager listens on it suffixed with its tag:
          lua-shared/publish.lua)

  Returns 1 when the reader's hold was removed, 0 when it held none here (nothing is published then).
  Publishes "w:<waiter id>:<release id>" to each waiter it wakes.
]]
--- @include "../lua-shared/wake.lua"
--- @include "../lua-shared/fair-head.lua"
--- @include "../lua-shared/release-args.lua"
--- @include "../lua-shared/clock.lua"

if ARGV[2] ~= '' then
  redis.call('ZREM', KEYS[5], ARGV[2])
  redis.call('HDEL', KEYS[6], ARGV[2])
end
if redis.call('ZREM', KEYS[4], ARGV[1]) == 0 then return 0 end
local nowUs, nowMs = serverNow()
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', nowMs)
-- Other readers still hold: the last one out wakes the writer.
if redis.call('EXISTS', KEYS[4]) == 1 or redis.call('EXISTS', KEYS[1]) == 1 then return 1 end

local keep, starving, _, releaseId, channel = releaseArgs(ARGV[3])
local clock = function() return nowUs end
local writer, arrival = liveWriter(KEYS[2], KEYS[3], clock)
if writer then
  if keep ~= '0' and nowUs - tonumber(arrival) >= starving then
    redis.call('SET', KEYS[1], 'r:' .. writer, 'PX', keep)
  end
  publishTo(channel, writer, 'w:' .. writer .. ':' .. releaseId)
  return 1
end

-- A fair-mode writer (acquire with `fair: true`) waits in fair mode's own queue, and its acquire takes a free lock
-- only when it is that queue's head: wake the live head.
local fair = liveFairHead(KEYS[7], KEYS[8], nowMs)
if fair then
  publishTo(channel, fair, 'w:' .. fair .. ':' .. releaseId)
  return 1
end

-- No writer waits: readers kept out by one that has since gone may all come.
wakeReaders(KEYS[5], KEYS[6], '+inf', clock, channel, releaseId)
return 1
