-- expect: fuel
-- fuel: 10000
-- overrun: 20000
-- steps: 50
-- Attacks: the same pathological backtracking through gmatch and match, and a %b scan and
-- a long back reference that each cover 1 MiB inside one attempt: all charged per step and
-- paused at step boundaries.
local s = "("
for _ = 1, 20 do s = s .. s end
assert(string.find(s, "%b()") == nil)
local a = "a"
for _ = 1, 19 do a = a .. a end
assert(string.find(a .. a, "^(a+)%1$") == 1)
assert(string.match(("a"):rep(2000), ("a-"):rep(8) .. "b") == nil)
for _ in string.gmatch(("a"):rep(1e4), ("a*"):rep(20) .. "b") do end
