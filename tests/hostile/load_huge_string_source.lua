-- expect: ok
-- steps: 500
-- overrun: 12000000
-- (overrun documented: string.rep of 100 MB and load's compile of it are each charged after
-- the work, ~3.3M and ~6.6M units; see string_rep_one_step_work.lua and
-- load_huge_source.lua, known bugs)
-- Attacks: a 100 MB source string built in Lua with string.rep: one long comment and a long
-- string literal. load must not crash or take superlinear time.
local src = "--[[" .. ("x"):rep(100 * 1024 * 1024) .. "]] return 'abc'"
local f = assert(load(src))
assert(f() == "abc")
