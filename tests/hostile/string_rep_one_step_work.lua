-- expect: ok
-- overrun: 2197152
-- (overrun: one call builds a single big string, charged 1 unit per 32 bytes at once:
-- bounded by the memory limit, BIG_STRING_OVERRUN in tests/hostile.rs)
-- steps: 1000
-- Attacks: the amount of work one builtin call may do inside a single step. A 32 MiB
-- string.rep (half the sandbox's memory limit) is legal and done in one call: the step that
-- runs it may overrun its fuel budget by no more than the runner's OVERRUN, which the memory
-- limit bounds (a request larger than the limit is refused before any work).
local s = string.rep("x", 32 * 1024 * 1024)
assert(#s == 32 * 1024 * 1024)
