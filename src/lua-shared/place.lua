-- A waiter's place as the acquire scripts take it, in one argument (pasted in by scripts/gen-lua.mjs): "" for an
-- attempt without a place, else "<first 0|1>:<lifetime ms>:<arrival µs, or empty>:<waiter id>". One argument
-- rather than four: each argument of a script call costs time on the client and on the server (about 0.5% of an
-- uncontended lock's throughput each, on one node), and the uncontended path reads none of these.

-- The place's parts: first (a call's first attempt), lifetime (ms; 0: do not (re)register now), arrival (a string:
-- µs, or "" for this node's time) and the waiter's id; false, 0, "" and "" without a place.
local function placeOf(place)
  local first, lifetime, arrival, id = string.match(place, '^([01]):([^:]*):([^:]*):(.+)$')
  if not first then return false, 0, '', '' end
  return first == '1', tonumber(lifetime) or 0, arrival, id
end
