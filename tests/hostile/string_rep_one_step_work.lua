-- expect: ok
-- known bug: fails today; run by its own #[ignore] test in tests/hostile.rs
-- steps: 1000
-- Attacks: the amount of work one builtin call may do inside a single step. A 64 MiB
-- string.rep is legal, but it is done in one call: the step that runs it must not overrun
-- its fuel budget by more than the runner's OVERRUN (builtins should refuse or pause work
-- that is far larger than the step's budget instead of charging it afterwards).
local s = string.rep("x", 64 * 1024 * 1024)
assert(#s == 64 * 1024 * 1024)
