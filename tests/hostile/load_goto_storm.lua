-- expect: ok
-- fuel: 10000
-- overrun: 20000
-- steps: 2000
-- Attacks: load() of a chunk with 10^5 forward gotos and 10^5 labels (2.68 MB). Goto
-- resolution used to scan every pending goto at each label (quadratic: 6.9 s in one step).
-- Compiling is now linear, and load pays one unit of fuel per source byte before it
-- compiles, in slices that stop at step boundaries (no step overruns by more than a slice).
local n = 100000
local parts = {}
for i = 1, n do parts[#parts + 1] = "goto l" .. i .. "\n" end
for i = 1, n do parts[#parts + 1] = "::l" .. i .. ":: x = 1\n" end
local src = table.concat(parts)
local f = assert(load(src))
-- (Not run: its 2*10^5 statements are one straight line, where fuel is only checked at
-- the end, by design.)
assert(type(f) == "function")
