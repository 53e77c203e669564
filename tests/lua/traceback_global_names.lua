-- Tracebacks name functions held by the loaded modules by their global names, like PUC
-- 5.4.8's luaL_traceback (pushglobalfuncname): a global function called through a local
-- or a field is "function 'gf'", a module's function "function 'mymod.f'" (issue #11).
local function tb(f, ...) print(select(2, xpcall(f, debug.traceback, ...))) end
function gf() error("in gf") end
local alias = gf
local holder = {f = gf}
tb(alias)
tb(function() holder.f() end)
tb(function() alias() end)
package.preload.mymod = function()
  local M = {}
  function M.f() error("in mymod.f") end
  function M:m() return M.f() end
  M.inner = {g = function() error("in inner.g") end}
  return M
end
local mymod = require("mymod")
tb(function() mymod.f() end)
tb(function() local x = mymod:m() return x end)
tb(function() mymod.inner.g() end)
-- a global function used as a metamethod
function gadd(a, b) error("in gadd") end
local obj = setmetatable({}, {__add = gadd, __index = function(t, k) return gf() end})
tb(function() return obj + 1 end)
tb(function() return obj.x end)
-- the main chunk and local functions keep their names
local function loc() error("in loc") end
tb(loc)
tb(function() loc() end)
-- not found once removed
local saved = gf
gf = nil
tb(function() saved() end)
gf = saved
-- a module replaced in package.loaded is not searched any more
package.loaded.mymod = nil
tb(function() mymod.f() end)
