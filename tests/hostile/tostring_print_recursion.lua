-- expect: ok
-- fuel: 10000
-- overrun: 20000
-- known bug: a __tostring that is `print` recurses through Rust callbacks (print -> __tostring
-- -> print ...) to the 200,000-frame limit inside one step of any budget, without charging
-- fuel for the calls or checking the memory limit between them (found by the undump fuzzer:
-- VM peak 73 MB under a 16 MB limit, ~1 s in one step of a debug build)
local ok, err = pcall(print, setmetatable({}, { __tostring = print }))
assert(not ok and err:find("stack overflow"), err)
