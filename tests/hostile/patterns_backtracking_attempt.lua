-- expect: fuel
-- fuel: 10000
-- overrun: 20000
-- steps: 50
-- Attacks: pathological backtracking inside ONE start-position attempt:
-- ("a*"):rep(20) .. "b" against 10^4 "a"s takes ~10^4^20 matcher steps at the first
-- position. The matcher must charge every step as it goes and pause at a step boundary
-- (its backtracking state kept as Lua data), so every step stays within its budget and the
-- script is still running at the step cap (PUC runs for ever; no result is cut off).
return string.find(("a"):rep(1e4), ("a*"):rep(20) .. "b")
