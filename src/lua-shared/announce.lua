-- A direct hand-off's announcement, shared by the mutex's and fair mode's (lua-shared/hand-off.lua) and the
-- semaphore's (semaphore/release.lua) (pasted in by scripts/gen-lua.mjs). KEYS[2] is the fencing
-- counter key (lua-shared/fence.lua). A waiter id is public (it goes out in the message); the token, the right to
-- release, never does.
--- @include "fence.lua"
--- @include "publish.lua"

-- Bumps the fence for waiter `id` as its own attempt would (with `fencing` "1"; 0 otherwise) and tells it
-- "h:<id>:<fence>:<server µs>": it holds from `nowUs` on without asking. Returns the fence and how many
-- subscribers got the message (0: its manager does not listen), or nil when no fence is left to give (nothing is
-- published then: the waiter's own attempt meets that error).
local function announceHandOff(id, fencing, nowUs, channel)
  local fence = 0
  if fencing == '1' then
    local ok, bumped = pcall(nextFence, function() return nowUs end)
    if not ok then return nil end
    fence = bumped
  end
  -- (A fence bumped for nobody is a gap: fences must rise, not be consecutive.)
  local message = 'h:' .. id .. ':' .. string.format('%.0f', fence) .. ':' .. string.format('%.0f', nowUs)
  return fence, publishTo(channel, id, message)
end
