-- expect: fuel
-- overrun: 20000
-- steps: 100
-- Attacks: exponential pattern backtracking: ("a*"):rep(30).."b" against ("a"):rep(30)
-- takes ~2^60 matcher steps. Every step must stay within its budget (the matcher is
-- charged as it goes and pauses), so the script is still running
-- when the step cap is reached, with no step taking long.
local s = ("a"):rep(30)
local p = ("a*"):rep(30) .. "b"
return string.find(s, p)
