-- require with package.preload, package.sources (lunette's host-provided module sources)
-- and custom searchers. Under PUC, a small searcher emulates package.sources, and the
-- file/C searchers are removed so both list the same searchers.
if package.sources == nil then
  package.sources = {}
  table.insert(package.searchers, 2, function(name)
    local src = package.sources[name]
    if type(src) ~= "string" then
      return "no field package.sources['" .. name .. "']"
    end
    local f, err = load(src, "=" .. name)
    if not f then
      error("error loading module '" .. name .. "' from package.sources:\n\t" .. err, 0)
    end
    return f, ":sources:"
  end)
end
for i = #package.searchers, 3, -1 do package.searchers[i] = nil end

print(type(package), type(package.loaded), type(package.preload), type(package.searchers))
print(#package.searchers, package.config == "/\n;\n?\n!\n-\n", type(package.path))
print(package.loaded._G == _G, package.loaded.string == string, package.loaded.table == table)
print(package.loaded.math == math, package.loaded.coroutine == coroutine, package.loaded.utf8 == utf8)
print(package.loaded.os == os, package.loaded.debug == debug, package.loaded.package == package)
print(require("string") == string, require("_G") == _G)

-- preload
package.preload.alpha = function(...)
  print("loading alpha", select("#", ...), ...)
  return {name = "alpha"}
end
local a, extra = require("alpha")
print(a.name, extra, package.loaded.alpha == a)
print(require("alpha") == a, select("#", require("alpha")))

-- a loader returning nothing: the module becomes true
package.preload.beta = function() end
print(require("beta"), package.loaded.beta)
-- a loader that sets package.loaded itself
package.preload.gamma = function(name) package.loaded[name] = "set by loader" end
print(require("gamma"))
-- a loader returning false
package.preload.delta = function() return false end
print(require("delta"), package.loaded.delta)
-- a false entry in package.loaded is not "loaded"
package.loaded.delta = false
package.preload.delta = function() return "again" end
print(require("delta"))

-- package.sources
package.sources.util = [[
local M = {}
local name, extra = ...
M.loaded_as = name .. " " .. extra
function M.double(x) return 2 * x end
return M
]]
local util = require("util")
print(util.loaded_as, util.double(21), require("util") == util)
package.sources.nested = "local u = require('util'); return {d = u.double(5)}"
print(require("nested").d)
package.sources.broken = "return +"
print(pcall(require, "broken"))
package.sources.fails = "error('module failed')"
print(pcall(require, "fails"))
print(package.loaded.fails)
package.sources.fails2 = "local t = nil; return t.x"
print(pcall(require, "fails2"))

-- not found
print(pcall(require, "missing"))
print(pcall(require, "a.b.c"))
print(pcall(require))
print(pcall(require, {}))
print(pcall(require, 42))

-- custom searchers: loader + extra value, error strings, ignored results
table.insert(package.searchers, 1, function(name)
  if name == "custom" then
    return function(n, x) return {n = n, x = x} end, "the extra value"
  elseif name == "skip" then
    return nil
  end
  return "\n\tcustom searcher says no to '" .. name .. "'"
end)
local c, cx = require("custom")
print(c.n, c.x, cx)
print(pcall(require, "skip"))
print(pcall(require, "nothing"))
table.remove(package.searchers, 1)

-- searchers that error propagate the error
table.insert(package.searchers, 1, function(name) error("searcher exploded") end)
print(pcall(require, "zzz"))
table.remove(package.searchers, 1)

-- package.searchers must be a table
local saved = package.searchers
package.searchers = nil
print(pcall(require, "anything"))
package.searchers = saved

-- a loader may call require recursively (deep chains do not grow the Rust stack)
for i = 1, 100 do
  package.preload["chain" .. i] = function()
    if i == 100 then return 100 end
    return require("chain" .. (i + 1)) + 0
  end
end
print(require("chain1"))
