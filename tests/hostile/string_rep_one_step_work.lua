-- expect: ok
-- overrun: 5000
-- (overrun: a big string is built in pieces of 64 KiB, each charged before it is written
-- (lunette_vm::big_string): a step overruns its budget by at most one piece)
-- steps: 1000
-- Attacks: the amount of work one builtin call may do inside a single step. A 32 MiB
-- string.rep (half the sandbox's memory limit) is legal and one call: it is written in
-- pieces across steps, so no step copies more than its fuel pays for (a request larger than
-- the limit is refused before any work).
local s = string.rep("x", 32 * 1024 * 1024)
assert(#s == 32 * 1024 * 1024)
