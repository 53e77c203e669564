-- expect: ok
-- fuel: 10000
-- steps: 3000
-- Attack: an 80,000-link ephemeron chain (weak-keyed table whose value for each key refers
-- to the next key), inserted last link first so that a mark which rescans the ephemeron
-- tables until nothing changes discovers one link per rescan (quadratic), then full
-- collections (the host's, every few steps). The mark must be linear in the graph, and the
-- semantics stay PUC's: the chain lives exactly as far as it is reachable from its head.
local wk = setmetatable({}, {__mode = "k"})
local n = 80000
local keys = {}
for i = 1, n do keys[i] = {} end
for i = n, 1, -1 do wk[keys[i]] = {keys[i + 1]} end
local head, middle = keys[1], keys[n // 2 + 1]
keys = nil
-- (The object is made in a callee, so no dead register of this frame keeps it.)
local function fill(p) p[1] = {} end
local function collected()
  local probe = setmetatable({}, {__mode = "v"})
  fill(probe)
  while #probe > 0 do end
end
local function count()
  local c = 0
  for _ in pairs(wk) do c = c + 1 end
  return c
end
collected()
assert(count() == n, count())
head = nil
collected()
assert(count() == n // 2, count())
middle = nil
collected()
assert(count() == 0, count())
