-- expect: ok
-- fuel: 10000
-- overrun: 20000
-- A __tostring that is `print` recurses through Rust callbacks (print -> __tostring -> print
-- ...) to the 200,000-frame limit. Each call of the chain is charged and checks the fuel and
-- the memory limit like a Lua call (it ran to the limit inside one step of any budget,
-- uncharged: found by the undump fuzzer, 73 MB under a 16 MB limit).
local ok, err = pcall(print, setmetatable({}, { __tostring = print }))
-- (The chain ends at the frame limit or, first, at the memory limit: both are errors.)
assert(not ok and (err:find("stack overflow") or err:find("not enough memory")), err)
