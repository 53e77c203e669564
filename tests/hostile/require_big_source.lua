-- expect: ok
-- fuel: 10000
-- steps: 1000
-- Attack: a module of 1.8 MB through package.sources, which a mod can fill itself. Its
-- searcher compiled it in one piece, charged its 1.8M units at once: one step of 107 ms.
-- It compiles as `load` does: paid a slice at a time across steps, on a helper thread
-- meanwhile, the verification of its code included in what the paying steps wait for.
package.sources.big = ("big_module_ran = (big_module_ran or 0) + 1\n"):rep(40000)
require("big")
assert(big_module_ran == 40000)
-- A compile error is still the searcher's error, raised by require.
package.sources.broken = ("x = 1\n"):rep(10000) .. "x = = 1"
local ok, e = pcall(require, "broken")
assert(not ok and e:find("error loading module 'broken' from package.sources:", 1, true), e)
assert(e:find("broken:10001:", 1, true), e)
