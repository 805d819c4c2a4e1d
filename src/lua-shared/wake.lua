-- Wake-ups shared by mutex/release.lua and rwlock/release.lua (pasted in by scripts/gen-lua.mjs): who goes next
-- once the lock is free. Queue keys are passed by name, as each script orders its KEYS differently. `clock()`
-- gives the server's time in µs (read only when a queue has someone in it). A wake-up is published for its
-- waiter (publish.lua) as "w:<waiter id>:<release id>"; places not refreshed in time (crashed waiters) are
-- dropped on the way.
--- @include "publish.lua"

-- A writer's heartbeat (mutex/acquire.lua) is "<place expires at, server ms>:<ttl ms>:<fencing 0|1>:<its token>":
-- what a release needs to hand the lock straight to it. The expiry alone (the digits it opens with) is enough
-- to tell a live writer.
local function placeExpires(entry)
  return tonumber(string.match(entry or '', '^%d+'))
end

-- The first live waiting writer: its id, its arrival (the score, as a string) and its heartbeat entry, or nil
-- when none waits.
local function liveWriter(waiting, heartbeats, clock)
  while true do
    local head = redis.call('ZRANGE', waiting, 0, 0, 'WITHSCORES')
    if not head[1] then return nil end
    local entry = redis.call('HGET', heartbeats, head[1])
    local expires = placeExpires(entry)
    if expires and expires * 1000 > clock() then return head[1], head[2], entry end
    redis.call('ZREM', waiting, head[1])
    redis.call('HDEL', heartbeats, head[1])
  end
end

-- Wakes every live waiting reader that queued before `below` (a ZRANGEBYSCORE bound: "+inf" for all); true when
-- one was woken. Costs one ZRANGEBYSCORE of a missing key when no reader waits.
local function wakeReaders(readWaiting, readHeartbeats, below, clock, channel, releaseId)
  local woken = false
  for _, reader in ipairs(redis.call('ZRANGEBYSCORE', readWaiting, '-inf', below)) do
    local expires = tonumber(redis.call('HGET', readHeartbeats, reader))
    if expires and expires * 1000 > clock() then
      publishTo(channel, reader, 'w:' .. reader .. ':' .. releaseId)
      woken = true
    else
      redis.call('ZREM', readWaiting, reader)
      redis.call('HDEL', readHeartbeats, reader)
    end
  end
  return woken
end
