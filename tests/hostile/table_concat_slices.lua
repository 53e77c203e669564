-- expect: ok
-- fuel: 10000
-- overrun: 20000
-- steps: 3000
-- Attacks: table.concat of 10^6 items in one call (0.5 s and 52,000 units over budget in one
-- step before). A plain concat now joins 1024 items (or 64 KiB) at a time into pieces kept in
-- a state table, charging per item and per byte before copying, and reaches a step boundary
-- between slices; the final join copies the pieces once.
local t = {}
for i = 1, 1000000 do t[i] = "ab" end
local s = table.concat(t)
assert(#s == 2000000)
local u = table.concat(t, ", ", 10, 200000)
assert(#u == 2 * 199991 + 2 * 199990)
