-- How every script publishes a message for one waiter (pasted in by scripts/gen-lua.mjs): on the lock's channel
-- suffixed with ':' and the tag that opens the waiter's id ("<tag>.<n>", one tag per manager: see
-- src/waiting/strategy.ts). Only the manager that waits receives it, not every client waiting for the lock.
-- Returns how many subscribers received it.
local function publishTo(channel, id, message)
  return redis.call('PUBLISH', channel .. ':' .. string.match(id, '^[^.]*'), message)
end
