-- The server's clock, the one time every script goes by (pasted in by scripts/gen-lua.mjs): TIME in µs and in ms.
-- (An uncontended path that runs before any shared function is defined reads TIME inline, as semaphore/acquire.lua's
-- does: each function a script defines costs a closure at every run, see mutex/release.lua.)
local function serverNow()
  local t = redis.call('TIME')
  local us = tonumber(t[1]) * 1000000 + tonumber(t[2])
  return us, math.floor(us / 1000)
end
