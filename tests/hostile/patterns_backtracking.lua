-- expect: fuel-or-error "pattern too complex"
-- steps: 100
-- overrun: 5100000
-- (overrun by design: the matcher may take 20M steps per call, charged 1 unit per 4 steps;
-- see STEP_LIMIT in crates/stdlib/src/pattern.rs)
-- Attacks: exponential pattern backtracking: ("a*"):rep(30).."b" against ("a"):rep(30)
-- takes ~2^60 matcher steps. Every step must stay within its budget (the matcher is
-- charged as it goes and pauses or the call is cut off), so the script is still running
-- when the step cap is reached, with no step taking long.
local s = ("a"):rep(30)
local p = ("a*"):rep(30) .. "b"
return string.find(s, p)
