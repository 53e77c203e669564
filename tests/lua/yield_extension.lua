-- lunette extension (hand-written .out, see README): Lua called by the standard library
-- may yield, also through pcall; PUC refuses ("attempt to yield across a C-call boundary",
-- which a pcall there catches).
local function try(name, f)
  local co = coroutine.wrap(function() return f() end)
  print(name, pcall(co))
end
try("pcall yield", function() return pcall(coroutine.yield, 1) end)
try("sort+pcall", function() table.sort({3, 2, 1}, function(a, b) pcall(coroutine.yield, "s") return a < b end) return "done" end)
try("tostring", function() return tostring(setmetatable({}, {__tostring = function() return pcall(coroutine.yield, "t") and "x" or "y" end})) end)
try("gsub", function() return (string.gsub("a", "a", function() pcall(coroutine.yield, "g") return "b" end)) end)
try("__index via concat", function() return table.concat(setmetatable({}, {__index = function() coroutine.yield("i") return "v" end, __len = function() return 1 end})) end)
try("load reader", function() return load(function() coroutine.yield("r") return nil end) end)
try("__eq", function() local mt = {__eq = function() coroutine.yield("e") return true end}; return setmetatable({}, mt) == setmetatable({}, mt) end)
