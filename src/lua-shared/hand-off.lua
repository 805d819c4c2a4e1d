-- The direct hand-off, shared by fair mode's release (lua-shared/queue.lua) and the mutex's (mutex/release.lua)
-- (pasted in by scripts/gen-lua.mjs). Both scripts order these KEYS alike:
--   KEYS[1] the lock key            KEYS[2] the fencing counter key
--   KEYS[3] the queue (sorted set: waiter id -> arrival, server µs)
--   KEYS[4] the places (hash: waiter id -> "<expires at, server ms>:<ttl ms>:<fencing 0|1>:<token>")
--- @include "announce.lua"

-- A place's parts (strings): expires, ttl, fencing, token; nothing when `entry` is not one.
local function placeParts(entry)
  return string.match(entry or '', '^(%d+):(%d+):([01]):(.+)$')
end

-- Gives the lock to waiter `id` (`ttl`, `fencing` and `token` from its place) with the fence bumped as its own
-- attempt would bump it, drops its place (unless `keepPlace`), and tells it "h:<id>:<fence>:<server µs>": it
-- holds from now on without asking. With `ifHeard`, only when a subscriber got that message: a waiter whose
-- process died has closed its connections, and would sit on the lock for a whole TTL. False when nothing was
-- handed (nobody heard, or no fence is left to give: the waiter's own attempt meets that error). On a quorum the
-- place stays (`keepPlace`) until the waiter's call drops it: a waiter handed fewer nodes than a quorum gives them
-- back and stays first in line on them, as on the nodes that kept it queued.
local function handTo(id, ttl, fencing, token, nowUs, channel, ifHeard, keepPlace)
  local fence, heard = announceHandOff(id, fencing, nowUs, channel)
  if not fence or (ifHeard and heard == 0) then return false end
  redis.call('SET', KEYS[1], token, 'PX', ttl)
  if not keepPlace then
    redis.call('ZREM', KEYS[3], id)
    redis.call('HDEL', KEYS[4], id)
  end
  return true
end
