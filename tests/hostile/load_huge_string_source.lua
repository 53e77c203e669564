-- expect: ok
-- overrun: 5000
-- (overrun: a big string is built in pieces of 64 KiB, each charged before it is written
-- (lunette_vm::big_string): a step overruns its budget by at most one piece)
-- steps: 500
-- Attacks: a 20 MB source string built in Lua with string.rep: one long comment. load must
-- not crash or take superlinear time; string.rep, the `..` and the compile each charge fuel
-- for their work as they go.
local src = "--[[" .. ("x"):rep(20 * 1024 * 1024) .. "]] return 'abc'"
local f = assert(load(src))
assert(f() == "abc")
