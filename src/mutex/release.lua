--[[
  Deletes the lock if, and only if, the owner still holds it (compare-and-delete), and in the same step wakes
  the first live waiter in the queue, and no one else. A waiter that has waited longer than `starving` (ARGV[3])
  does not have to race for the lock: it is handed to it outright (`hand off`: on a quorum node by node, to a
  waiter that fences), or else kept for that waiter alone for up to `keep` ms ("r:" + its id). Waiters whose place
  was not refreshed in time (crashed) are dropped on the way. Also how a waiter leaves the queue (ARGV[2]),
  passing on a lock kept for it or handed to it.

  KEYS[1] the lock key
  KEYS[2] the fencing counter key (bumped for a waiter the lock is handed to)
  KEYS[3] the waiting queue (sorted set: waiter id -> first arrival, server µs)
  KEYS[4] the waiters' heartbeats (hash: waiter id -> "<place expires at, server ms>:<ttl>:<fencing>:<token>")
  KEYS[5] a read-write lock's waiting readers (sorted set: waiter id -> first arrival, server µs)
  KEYS[6] the waiting readers' heartbeats (hash: waiter id -> place expires at, server ms)
  ARGV[1] the owner's token (for a waiter that leaves, the lock may also be kept for it: "r:" + ARGV[2])
  ARGV[2] a waiter id to drop from the queue first (the owner's own place, or a waiter that leaves), or ""
  ARGV[3] what to do for the next waiter, "<keep>:<starving>:<hand off>:<release id>:<channel>" in one argument
          (as the acquire scripts' place, lua-shared/place.lua; read only when someone waits):
          keep: how long a lock kept for a waiter stays kept, in ms ("0": keep it for nobody, as when a failed
                attempt undoes what it took: a waiter it would keep the lock for might hold only a minority)
          starving: how long a waiter waits before the lock is kept for it, in µs
          hand off: "1" to hand the lock straight to a waiter that has waited that long instead of keeping it
                for that waiter (one node: the waiter holds from then on, with no attempt of its own); "2" the
                same on a quorum, for a waiter that fences only (its manager counts the nodes that handed it the
                lock by their fences, src/handoff.ts; any other waiter's lock is kept for it); "0" to keep it
          release id: an id of this release, the same on every node (so that the waiter knows the copies of one
                wake-up)
          channel: the lock's channel: a waiter's manager listens on it suffixed with its tag
                (lua-shared/publish.lua); a channel is not a key: on Redis Cluster PUBLISH reaches every node

  Returns 1 when the lock was freed (or kept for, or handed to, the first waiter), 0 when it held neither ARGV[1]
  nor a lock kept for the waiter ARGV[2] (then only a waiter that leaves a free lock wakes readers that queued
  before the next writer). Publishes "w:<waiter id>:<release id>" to wake that waiter, or "h:…" when the lock
  was handed to it (nothing when nobody waits).
  Waiting readers (docs/rwlock.md) are woken instead, every one, when no live writer waits, and those that queued
  before the first live writer are woken (and the lock not kept for the writer) when one does.
]]
-- The uncontended path first, before the shared functions below are defined: each definition builds a closure
-- at every run (some 700 instructions each; the ten of them were a sixth of this script's cost when nobody waits).
local held = redis.call('GET', KEYS[1])
local queues
if ARGV[2] == '' and held == ARGV[1] then
  -- Nobody waits, writer or reader: one EXISTS for both queues, nothing to wake.
  queues = redis.call('EXISTS', KEYS[3], KEYS[5])
  if queues == 0 then
    redis.call('DEL', KEYS[1])
    return 1
  end
end
--- @include "../lua-shared/hand-off.lua"
--- @include "../lua-shared/wake.lua"
--- @include "../lua-shared/release-args.lua"
--- @include "../lua-shared/clock.lua"

local drop = ARGV[2]
local keep, starving, handOff, releaseId, channel = releaseArgs(ARGV[3])
if drop ~= '' then
  redis.call('ZREM', KEYS[3], drop)
  redis.call('HDEL', KEYS[4], drop)
end
local now
local function clock()
  now = now or serverNow()
  return now
end
local function wakeReadersBefore(below)
  return wakeReaders(KEYS[5], KEYS[6], below, clock, channel, releaseId)
end
-- A waiter that got the lock on a majority may find it kept for itself on a node that released late: pass it on.
if held ~= ARGV[1] and not (drop ~= '' and held == 'r:' .. drop) then
  -- A writer that gives up may have been keeping readers out: with the lock free, they may come now.
  if drop ~= '' and not held then
    local head = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
    wakeReadersBefore(head[1] and '(' .. head[2] or '+inf')
  end
  return 0
end
-- (Counted again after dropping the owner's place, which may have been the only one.)
queues = queues or redis.call('EXISTS', KEYS[3], KEYS[5])
if queues == 0 then
  redis.call('DEL', KEYS[1])
  return 1
end
local writer, arrival, entry = liveWriter(KEYS[3], KEYS[4], clock)
if not writer then
  redis.call('DEL', KEYS[1])
  wakeReadersBefore('+inf')
  return 1
end
-- Readers that queued before this writer go first (they in turn keep out readers that come later). With a live
-- writer the writers' queue was one of the keys EXISTS counted: a count of 1 means no reader waits.
if queues == 2 and wakeReadersBefore('(' .. arrival) then
  redis.call('DEL', KEYS[1])
  return 1
end
if keep ~= '0' and clock() - tonumber(arrival) >= starving then
  -- Handed over outright (lua-shared/hand-off.lua), while the waiter's manager listens: on one node, and on a
  -- quorum to a waiter that fences.
  if handOff ~= '0' then
    local _, ttl, fencing, token = placeParts(entry)
    if token and (handOff == '1' or fencing == '1')
        and handTo(writer, ttl, fencing, token, clock(), channel, true, handOff == '2') then
      return 1
    end
  end
  redis.call('SET', KEYS[1], 'r:' .. writer, 'PX', keep)
else
  redis.call('DEL', KEYS[1])
end
publishTo(channel, writer, 'w:' .. writer .. ':' .. releaseId)
return 1
