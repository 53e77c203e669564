-- expect: ok
-- Attacks: setmetatable on protected metatables (__metatable field), on non-tables, with
-- non-table metatables, getmetatable of frozen library tables and of strings, and
-- modifying frozen library tables in every way.
local t = setmetatable({}, {__metatable = "locked"})
assert(getmetatable(t) == "locked")
local ok, e = pcall(setmetatable, t, {})
assert(not ok and e:find("cannot change a protected metatable"), e)
ok, e = pcall(setmetatable, t, nil)
assert(not ok and e:find("cannot change a protected metatable"), e)
local t2 = setmetatable({}, {__metatable = false})
assert(getmetatable(t2) == false)
ok = pcall(setmetatable, t2, {})
assert(not ok)
ok, e = pcall(setmetatable, 1, {})
assert(not ok)
ok, e = pcall(setmetatable, {}, 1)
assert(not ok and e:find("nil or table"), e)
ok, e = pcall(setmetatable, {})
assert(not ok)
assert(type(getmetatable("")) ~= "nil")
ok = pcall(setmetatable, "", {})
assert(not ok)
for _, lib in ipairs{string, table, math, coroutine, utf8, os} do
  assert(not pcall(rawset, lib, "x", 1))
  assert(not pcall(function() lib.x = 1 end))
  assert(not pcall(setmetatable, lib, {}))
  assert(not pcall(function() for k in pairs(lib) do lib[k] = nil end end))
end
ok = pcall(function() getmetatable("").__index.rep = nil end)
assert(not ok)
ok = pcall(function() getmetatable("").__add = function() end end)
assert(not ok)
assert(("x"):rep(2) == "xx")
-- globals are per-script and writable, the libraries are not
string = nil
assert(("x"):upper() == "X")
