--[[
  Takes the lock if it is free (or kept for this waiter) and, in the same step, bumps the resource's fencing
  counter. A waiter also queues (or refreshes its place) here, whether it takes the lock or not, at the arrival
  time it brings (the same on every node, so that the nodes' queues agree whatever the network's latencies); a
  release wakes the first live waiter alone.
  A missing counter (a new resource, or a node that lost its data) starts at the server's clock in microseconds,
  so a node that restarted without its data still hands out a fence above the ones it gave before the restart
  (as long as its clock moved on); after that it only counts up, so the nodes' counters stay equal and quorum
  mode can skip writing the fence back.

  KEYS[1] the lock key
  KEYS[2] the fencing counter key
  KEYS[3] the waiting queue (sorted set: waiter id -> first arrival, server µs)
  KEYS[4] the waiters' heartbeats (hash: waiter id -> "<place expires at, server ms>:<ttl>:<fencing>:<token>")
  KEYS[5] a read-write lock's readers of the same name (sorted set: token -> expiry, server ms): the write side
          is this mutex, so it is refused while a live reader holds
  ARGV[1] the owner's token
  ARGV[2] the TTL in milliseconds
  ARGV[3] "1" to bump the fencing counter, "0" to leave it alone
  ARGV[4] the waiter's place: "" for an attempt without one (tryAcquire, a poller), else
          "<first>:<lifetime>:<arrival>:<waiter id>" (lua-shared/place.lua):
          first: "1" to (re)register only when the lock is not taken (a call's first attempt: the uncontended
                 path writes no queue entry), "0" to register win or lose
          lifetime: how long the place lasts without a refresh, in ms; "0": do not (re)register now
          arrival: the waiter's arrival (µs, as the nodes' clocks told it), or "" for this node's time
  ARGV[5] (optional) "1" for a waiter on a quorum that fences: a refusal also says where the fencing counter
          stands, so that the waiter can tell a hand-off made after this attempt from an older one (handoff.ts)

  Errors (leaving the lock as it was) when fencing and the counter reached 2^53 - 1 (see lua-shared/fence.lua).
  Returns the fence (an integer; 0 when not bumped) when the lock was taken and the counter existed before (the
          usual case: a bare integer is the cheapest reply to build and to read),
          {1, fence, 0} when the lock was taken and the counter did not exist (a new resource, or a node that
          lost its data),
          {1, fence, 1, remaining TTL in ms} when a release had handed it to this waiter already (its lease
          began then, not now),
          {0, remaining TTL in ms of the current holder or reservation (-1: the key has no TTL), or of the
          earliest reader's expiry, this node's time in µs, and with ARGV[5] the fencing counter (0: none)} when
          not.
]]
-- The uncontended path first, before the shared functions below are defined (each definition builds a closure at
-- every run: see mutex/release.lua): a call's first attempt, or one without a place, takes a free lock with SET NX,
-- keeps it if no reader shares it, and bumps an existing counter that has room. Anything else about the fence (a
-- missing counter, one that is not an integer, or none left) is left to nextFence below. SET NX comes first: when
-- it fails, a writer holds (or the lock is kept for a waiter), so no reader does (readers and the lock key exclude
-- each other: rwlock/acquire.lua), and the busy attempt needs no look at the readers.
--- @include "../lua-shared/bump.lua"
local plain = ARGV[4] == '' or string.byte(ARGV[4]) == 49 -- '1': a call's first attempt
local took = plain and redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
local shared = false -- taken by SET NX, but readers (perhaps expired ones) are there
if took then
  if redis.call('EXISTS', KEYS[5]) == 0 then
    if ARGV[3] ~= '1' then return 0 end
    local fence = bumpExisting()
    if fence then return fence end
  else
    -- Undone in this same step; the readers are looked at below.
    redis.call('DEL', KEYS[1])
    took, shared = false, true
  end
end
--- @include "../lua-shared/fence.lua"
--- @include "../lua-shared/place.lua"
--- @include "../lua-shared/clock.lua"

local token = ARGV[1]
local first, lifetime, arrival, id = placeOf(ARGV[4])
local nowUs

local function now()
  nowUs = nowUs or serverNow()
  return nowUs
end

local function taken()
  if ARGV[3] ~= '1' then return 0 end
  local ok, fence, existed = pcall(nextFence, now)
  if not ok then
    -- No fence to give: the lock just taken is given up again, and the error says why.
    redis.call('DEL', KEYS[1])
    error(fence)
  end
  if existed == 1 then return fence end
  return {1, fence, 0}
end

local function register()
  if lifetime == 0 then return end
  redis.call('ZADD', KEYS[3], 'NX', arrival ~= '' and arrival or string.format('%.0f', now()), id)
  -- With what a release needs to hand the lock straight to this waiter (lua-shared/wake.lua).
  redis.call('HSET', KEYS[4], id,
    string.format('%.0f', math.floor(now() / 1000) + lifetime) .. ':' .. ARGV[2] .. ':' .. ARGV[3] .. ':' .. token)
  -- The queue lasts as long as its newest place: once nobody refreshes, it goes away as a whole.
  redis.call('PEXPIRE', KEYS[3], lifetime)
  redis.call('PEXPIRE', KEYS[4], lifetime)
end
local function refused(pttl)
  if first then register() end
  if ARGV[5] == '1' then return {0, pttl, now(), tonumber(redis.call('GET', KEYS[2])) or 0} end
  return {0, pttl, now()}
end

if took then return taken() end
-- SET NX failed: the lock is held, by a writer (or kept for a waiter).
if plain and not shared then return refused(redis.call('PTTL', KEYS[1])) end
if not first then register() end
-- A queued waiter looks at the lock first: it may be free, or kept for it by a release ("r:" + its id: never a
-- token, which has no ':'), or handed to it already (its token: the release bumped the fence), or held. While
-- the key exists no reader holds, as on the first attempt: only a free lock, or one kept for this waiter, needs
-- the look at the readers below. (The first attempt's way here found the lock free: it took it, then undid it.)
local held = not plain and redis.call('GET', KEYS[1])
if held and held ~= 'r:' .. id then
  if held == token then
    local fence = ARGV[3] == '1' and tonumber(redis.call('GET', KEYS[2])) or 0
    return {1, fence, 1, redis.call('PTTL', KEYS[1])}
  end
  return refused(redis.call('PTTL', KEYS[1]))
end
-- Readers share the lock (docs/rwlock.md). One EXISTS when there are none (none at all when the first attempt
-- found them already): the clock and the set are read only when there are readers, expired ones dropped on the way.
if shared or redis.call('EXISTS', KEYS[5]) == 1 then
  local nowMs = math.floor(now() / 1000)
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', nowMs)
  local first = redis.call('ZRANGE', KEYS[5], 0, 0, 'WITHSCORES')
  if first[1] then return refused(tonumber(first[2]) - nowMs) end
end
if plain then
  -- No place yet (a call's first attempt, or tryAcquire): nothing can be kept for this caller, so SET NX alone.
  if redis.call('SET', KEYS[1], token, 'NX', 'PX', ARGV[2]) then return taken() end
  return refused(redis.call('PTTL', KEYS[1]))
end
-- Free, or kept for this waiter, and no reader holds: taken.
redis.call('SET', KEYS[1], token, 'PX', ARGV[2])
return taken()
