-- A release's own arguments in one (ARGV[3] of mutex/release.lua and rwlock/release.lua; pasted in by
-- scripts/gen-lua.mjs): "<keep ms>:<starving µs>:<hand off 0|1|2>:<release id>:<channel>", the channel last as it
-- may hold ':'. One argument rather than five, as the acquire scripts' place (lua-shared/place.lua): the
-- uncontended release reads none of them.

-- keep (ms, a string: "0" keeps the lock for nobody), starving (µs, a number), hand off ("0", "1" or "2"), the
-- release's id and the lock's channel.
local function releaseArgs(spec)
  local keep, starving, handOff, releaseId, channel = string.match(spec, '^(%d+):(%d+):([012]):([^:]*):(.*)$')
  return keep, tonumber(starving), handOff, releaseId, channel
end
