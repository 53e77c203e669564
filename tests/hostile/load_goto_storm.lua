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
-- Run: 10^5 forward jumps and 10^5 assignments in one function, code long enough that the
-- interpreter looks at the fuel before each of its instructions (a straight line of it
-- used to run whole in one step).
assert(type(f) == "function")
f()
assert(x == 1)
