-- expect: fuel-or-error "pattern too complex"
-- steps: 100
-- overrun: 5100000
-- (overrun by design: the matcher may take 20M steps per call, charged 1 unit per 4 steps;
-- see STEP_LIMIT in crates/stdlib/src/pattern.rs)
-- Attacks: the same exponential backtracking through gsub and gmatch and match.
local s = ("a"):rep(40)
local p = ("a-"):rep(40) .. "b"
for _ in s:gmatch(p) do end
s:gsub(p, "x")
return s:match(p)
