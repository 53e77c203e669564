-- expect: ok
-- overrun: 2197152
-- (overrun: one call builds a single big string, charged 1 unit per 32 bytes at once:
-- bounded by the memory limit, BIG_STRING_OVERRUN in tests/hostile.rs)
-- steps: 500
-- Attacks: a 20 MB source string built in Lua with string.rep: one long comment. load must
-- not crash or take superlinear time; string.rep and the compile each charge fuel for their
-- work when done (bounded by the sandbox's memory limit, see OVERRUN in tests/hostile.rs).
local src = "--[[" .. ("x"):rep(20 * 1024 * 1024) .. "]] return 'abc'"
local f = assert(load(src))
assert(f() == "abc")
