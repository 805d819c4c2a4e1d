--[[
  Frees the caller's permits if, and only if, it still holds them, drops a waiter's place, and in the same step
  lets the waiters at the head of the queue whose permits now fit go next (in arrival order, stopping at the first
  that does not: the ones behind it could not take permits anyway). Also how a waiter leaves the queue.
  With `hand off` each of those waiters is handed its permits outright, as the mutex's release hands the lock
  (lua-shared/hand-off.lua): the grant is written here, with the fence bumped for it, and the waiter is told
  "h:<waiter id>:<fence>:<server µs>"; only while its manager listens (a subscriber got the message). On one node
  it then holds without asking again; on a quorum (to a waiter that fences) each node hands over on its own, and
  the waiter holds once q nodes did (its manager counts them by their fences, src/handoff.ts), keeping its place
  here until its call drops it. Otherwise it is woken ("w:<waiter id>:<release id>") and its own attempt takes
  the permits. A handed grant is marked in the permits hash ("<token>:f" -> its fence) until its release: an
  attempt of the waiter that comes after the hand-off (its message lost, or sent before it arrived, or too few
  nodes handed over) takes the grant as its own there (semaphore/acquire.lua), and nowhere else.

  KEYS[1] the holders (sorted set: token -> expiry, server ms)
  KEYS[2] the fencing counter key (bumped for a waiter handed its permits; shared with the mutex of the same name)
  KEYS[3] the permits (hash: token -> permits, ':used' -> their sum, ':limit' -> the limit while anyone holds,
          "<token>:f" -> the fence of a handed grant)
  KEYS[4] the waiting queue (sorted set: waiter id -> arrival, server µs)
  KEYS[5] the waiters' heartbeats (hash: waiter id -> "<place expires at, server ms>:<permits wanted>:<ttl ms>:
          <fencing 0|1>:<limit>:<token>")
  ARGV[1] the owner's token (a waiter that leaves gives its own: permits handed to it meanwhile are freed), or ""
          to free nothing
  ARGV[2] a waiter id to drop from the queue (the owner's own place, or a waiter that leaves), or ""
  ARGV[3] who goes next, "<limit>:<hand off>:<release id>:<channel>" in one argument (read only when someone may
          go: see lua-shared/place.lua for why): the caller's limit (applies when nobody holds any more, so no
          limit is stored); "1" to hand permits to the waiters that fit (one node), "2" the same on a quorum, to
          waiters that fence (the others are woken), "0" to wake them; an id of
          this release, the same on every node (so that a waiter knows the copies of one wake-up); the lock's
          channel: a waiter's manager listens on it suffixed with its tag (lua-shared/publish.lua); a channel is
          not a key: on Redis Cluster PUBLISH reaches every node

  Returns 1 when the token held permits here (now freed), 0 when not. Publishes to each waiter that goes next
  (nobody when nothing was freed or dropped).
]]
-- The uncontended path first, before the shared functions below are defined (each costs a closure at every run:
-- see mutex/release.lua). The caller's permits and everyone's, in one look:
local mine, used
if ARGV[1] ~= '' then
  local got = redis.call('HMGET', KEYS[3], ARGV[1], ':used')
  mine, used = tonumber(got[1]), tonumber(got[2]) or 0
end
-- The only holder, and a live one: the keys live as long as their latest holder, this one.
local only = ARGV[2] == '' and mine and used <= mine
if only then
  -- Everything goes, with no clock and nothing to prune; nothing to wake when nobody waits.
  redis.call('DEL', KEYS[1], KEYS[3])
  if redis.call('EXISTS', KEYS[4]) == 0 then return 1 end
end
--- @include "../lua-shared/semaphore.lua"
--- @include "../lua-shared/announce.lua"

local held, freed, nowUs, nowMs = 0, false, nil, nil
if only then
  held, freed, used = 1, true, 0
else
  if ARGV[2] ~= '' and dropWaiter(KEYS[4], KEYS[5], ARGV[2]) then freed = true end
  nowUs, nowMs = serverNow()
  local dropped
  used, dropped = prune(KEYS[1], KEYS[3], nowMs, used)
  freed = freed or dropped
  -- A live holder's permits are in the hash (prune dropped the expired ones', so look again if it dropped any).
  if dropped then mine = used > 0 and ARGV[1] ~= '' and tonumber(redis.call('HGET', KEYS[3], ARGV[1])) end
  if mine then
    held = 1
    freed = true
    used = used - mine
    if used <= 0 then
      redis.call('DEL', KEYS[1], KEYS[3])
      used = 0
    else
      redis.call('ZREM', KEYS[1], ARGV[1])
      redis.call('HDEL', KEYS[3], ARGV[1], ARGV[1] .. ':f')
      redis.call('HSET', KEYS[3], ':used', used)
      expireWithLatest(KEYS[1], KEYS[3])
    end
  end
end
if not freed then return held end

-- Nobody holds any more: no limit is stored, the caller's applies. (The clock is read only if someone waits.)
local ownLimit, handOff, releaseId, channel = string.match(ARGV[3], '^(%d+):([012]):([^:]*):(.*)$')
local limit = used > 0 and tonumber(redis.call('HGET', KEYS[3], ':limit')) or tonumber(ownLimit)

-- Grants `permits` to the waiter, while its manager listens (see the header). False when it did not: the waiter
-- asked with another limit than the one in force (its own attempt then says so, rather than the two limits
-- mixing), does not fence on a quorum (its manager could not count the nodes), no fence is left to give (its
-- attempt meets that error), or nobody heard the message.
local handed, grants = {}, 0
local function handTo(id, permits, token, ttl, fencing, waiterLimit)
  if tonumber(waiterLimit) ~= limit or (handOff == '2' and fencing ~= '1') then return false end
  local fence, heard = announceHandOff(id, fencing, nowUs, channel)
  if not fence or heard == 0 then return false end
  used = used + permits
  redis.call('ZADD', KEYS[1], nowMs + tonumber(ttl), token)
  redis.call('HSET', KEYS[3], token, permits, token .. ':f', string.format('%.0f', fence), ':used', used,
    ':limit', limit)
  -- One node: its place goes once the queue has been walked (dropping it now would shift the walk's positions).
  -- A quorum: it stays, as with any grant there, until the waiter's call drops it (the waiter may be handed
  -- permits on too few nodes, and then attempts from its place).
  if handOff == '1' then handed[#handed + 1] = id end
  grants = grants + 1
  return true
end

if handOff ~= '0' and not nowUs then nowUs, nowMs = serverNow() end
-- (On one node no queued waiter holds: see eachWaiter. On a quorum a waiter that holds here is skipped.)
if handOff == '1' then
  wakeWhoFits(KEYS[4], KEYS[5], nil, nowMs, limit - used, channel, releaseId, handTo)
else
  wakeWhoFits(KEYS[4], KEYS[5], KEYS[1], nowMs, limit - used, channel, releaseId, handOff == '2' and handTo or nil)
end
if grants > 0 then
  for _, id in ipairs(handed) do dropWaiter(KEYS[4], KEYS[5], id) end
  expireWithLatest(KEYS[1], KEYS[3])
end
return held
