-- require's names and messages are C strings in PUC (`%s`): a module name ends at its
-- first zero byte, and so does the message listing what the searchers tried. The message
-- gets the caller's position (luaL_error). Long names make long messages (built in pieces).
local preload_searcher = package.searchers[1]
for i = #package.searchers, 2, -1 do package.searchers[i] = nil end

package.preload["a"] = function(...) return {...} end
local m = require("a\0junk")
print(m[1], m[2], package.loaded["a"] == m, package.loaded["a\0junk"])
print(require("a\0other") == m)
print(preload_searcher("b\0c"))
print(select(2, preload_searcher("a\0c")))

package.searchers = {
  function(n) return "first " .. n .. "\0hidden" end,
  function() return 42 end,
}
print(pcall(require, "x\0y"))
package.searchers = {
  function() return nil end,
  function() return 1.5 end,
  function() return "m\255" end,
  function() return {} end,
  function() return 7 end,
}
print(pcall(require, "zz"))
print(pcall(function() return require("nowhere") end))
local ok, e = pcall(function()
  local x = require("again")
  return x
end)
print(ok, e)

-- a long name in the preload searcher's message and require's
package.searchers = {preload_searcher, function(n) return #n end}
local long = ("n"):rep(300000) .. "x"
local ok2, e2 = pcall(require, long)
print(ok2, #e2, e2:sub(1, 16), e2:sub(-40))
local msg = preload_searcher(long)
print(#msg, msg:sub(1, 30), msg:sub(-4))
-- a searcher that finds a loader after messages were collected
package.searchers = {preload_searcher, function() return "skipped" end,
  function(n) return function(name, extra) return name .. "|" .. extra end, "xtra" end}
print(require("found\0ignored"))
print(package.loaded.found)
-- the searchers see a name up to its zero byte, however long the name
local long0 = ("p"):rep(300000) .. "\0" .. ("q"):rep(10)
local msg0 = preload_searcher(long0)
print(#msg0, msg0:sub(-5))
package.preload[("p"):rep(300000)] = function(n, x) return #n .. " " .. x end
print(type(preload_searcher(long0)), select(2, preload_searcher(long0)))
package.searchers = {preload_searcher}
print(require(long0))
local ok4, e4 = pcall(require, ("r"):rep(300000) .. "\0")
print(ok4, #e4, e4:sub(-8))
