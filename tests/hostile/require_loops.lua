-- expect: ok
-- Attacks: require abuse in the sandbox: a preload loader that requires itself (infinite
-- recursion through require), loaders that error / return odd values / yield, huge module
-- names, package.sources with broken code, and package.path games.
package.preload.selfish = function() return require("selfish") end
local ok, e = pcall(require, "selfish")
-- (each level holds require's frames and state: under the sandbox's memory limit the
-- recursion runs out of memory before the 200,000-frame limit)
assert(not ok and (tostring(e):find("overflow") or e == "not enough memory"), e)
package.preload.boom = function() error("loader boom") end
ok, e = pcall(require, "boom")
assert(not ok and e:find("loader boom"), e)
package.preload.odd = function() return nil end
assert(require("odd") == true)
package.preload.tbl = function() return {1} end
assert(require("tbl")[1] == 1)
ok, e = pcall(require, ("m"):rep(100000))
assert(not ok)
ok, e = pcall(require)
assert(not ok)
ok, e = pcall(require, {})
assert(not ok)
if package.sources then
  package.sources.broken = "return ("
  ok, e = pcall(require, "broken")
  assert(not ok, "a module with a syntax error must fail")
  package.sources.deep = "return " .. ("("):rep(10000) .. "1" .. (")"):rep(10000)
  ok, e = pcall(require, "deep")
  assert(not ok)
end
local co = coroutine.wrap(function()
  package.preload.yielder = function() coroutine.yield("from loader") return "mod" end
  return require("yielder")
end)
local r = co()
assert(r == "from loader" or r == "mod")
