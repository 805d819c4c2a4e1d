-- Fair mode's first live waiter, for the read-write lock's scripts, which must see fair-mode writers of the same
-- name (pasted in by scripts/gen-lua.mjs). Keys are passed by name. Dead entries are left for fair mode's own
-- scripts to drop (lua-shared/queue.lua).

-- The first waiter in fair mode's queue if its place is still live at `nowMs` (server ms): its id and arrival
-- (the score, as a string); nil otherwise.
local function liveFairHead(queue, waiters, nowMs)
  local head = redis.call('ZRANGE', queue, 0, 0, 'WITHSCORES')
  if not head[1] then return nil end
  local expires = tonumber(string.match(redis.call('HGET', waiters, head[1]) or '', '^(%d+):'))
  if expires and expires > nowMs then return head[1], head[2] end
  return nil
end
