-- errors: error(), levels, assert, pcall, xpcall, runtime error messages

print("== error values")
print(pcall(error, "msg"))
print(pcall(error, "msg", 0))
print(pcall(error))
print(pcall(error, nil))
print(pcall(error, 42))
print(pcall(error, 4.5))
print(pcall(error, true))
local tbl = {code = 7}
local ok, e = pcall(error, tbl)
print(ok, e == tbl, e.code)
print(select('#', pcall(error)))

print("== levels")
local function lvl1() error("level1") end
local function lvl1b() error("level1b", 1) end
local function lvl2() error("level2", 2) end
local function call_lvl2()
  lvl2()       -- line reported for level 2
end
local function lvl0() error("level0", 0) end
local function lvl3inner() error("level3", 3) end
local function lvl3mid() lvl3inner() end
local function lvl3outer()
  lvl3mid()    -- line reported for level 3
end
print(pcall(lvl1))
print(pcall(lvl1b))
print(pcall(call_lvl2))
print(pcall(lvl0))
print(pcall(lvl3outer))
print(pcall(error, "direct level 2", 2))
print(pcall(function() error("string gets position", 1) end))
print(pcall(function() error(setmetatable({}, {__tostring = function() return "TS" end})) end))
print(pcall(function() error(12) end))

print("== assert")
print(pcall(assert, false))
print(pcall(assert, nil))
print(pcall(assert, false, "custom message"))
print(pcall(assert, 1 == 2, 99))
local t = {}
ok, e = pcall(assert, nil, t)
print(ok, e == t)
print(assert(1, 2, 3))
print(assert("v"))
print(pcall(assert))
print(select('#', assert(true, nil, nil)))

print("== pcall")
print(pcall(function(...) return ... end, 1, 2, 3))
print(pcall(function() end))
print(select('#', pcall(function() end)))
print(pcall(pcall))
print(pcall(pcall, error, "nested"))
print(pcall(nil))
print(pcall(42))
print(pcall({}))
print(pcall(setmetatable({}, {__call = function(self, x) return "callable", x end}), "arg"))

print("== xpcall")
print(xpcall(function() error("oops") end, function(m) return "handled: " .. m end))
print(xpcall(function() error({1, 2, 3}) end, function(m) return #m end))
print(xpcall(function(a, b) return a + b end, print, 3, 4))
print(xpcall(function() error("x") end, function(m) return 1, 2, 3 end))
print(xpcall(function() local x = nil; return x.y end, function(m) return "H:" .. m end))
print(xpcall(function() error() end, function(m) return type(m) end))
-- error inside the handler
-- an error in the handler calls the handler again with the new error;
-- endless recursion ends with "error in error handling"
print(xpcall(function() error("first") end, function(m) error("in handler") end))
local hn = 0
print(xpcall(function() error("first") end, function(m)
  hn = hn + 1
  if hn < 3 then error("again" .. hn) end
  return "final:" .. tostring(m)
end))
print("handler calls:", hn)
print(pcall(xpcall, function() end))
print(xpcall(function() return "no error" end, error))
print(xpcall(error, function(m) return "got " .. tostring(m) end, "arg to error"))

print("== runtime error messages with variable names")
local function m(f) print(select(2, pcall(f))) end
m(function() return undefined_global.x end)
m(function() local x; return x.y end)
m(function() local t2 = {}; return t2.y.z end)
local u
m(function() return u.field end)
m(function() return u[1] end)
m(function() undefined_fn() end)
m(function() local t2 = {}; t2:method() end)
m(function() local t2 = {}; t2.f() end)
m(function() local t2 = {sub = {}}; t2.sub.f() end)
m(function() local x; return x + 1 end)
m(function() return {} + 1 end)
m(function() return 1 - {} end)
m(function() local x; return "a" .. x end)
m(function() return 1 < nil end)
m(function() return {} < {} end)
m(function() return {} <= 1 end)
m(function() return "a" >= 1 end)
m(function() return #5 end)
m(function() local n = 5; return #n end)
m(function() return -{} end)
m(function() local s = "x"; return -s end)
m(function() local b = true; return b.x end)
m(function() local t2 = {}; t2.x.y = 1 end)
m(function() undefined_global.x = 1 end)
m(function() u.x = 1 end)
m(function() local t2 = {}; return t2[1][2] end)
m(function() local t2 = {}; local k = "key"; return t2[k].z end)
m(function() local a = {}; return a.b.c.d end)
m(function() return ("x")() end)
m(function() local f = 5; f() end)
m(function() u() end)
m(function() local t2 = setmetatable({}, {__index = function() return nil end}); t2.x() end)
m(function() return 2 ^ {} end)
m(function() return 1 & 1.5 end)
m(function() local x = 2.5; return x | 1 end)
m(function() return print .. "" end)
m((function() local upv; return function() return upv + 1 end end)())
m(function() return nil .. nil end)
m(function() local a, b = 1, nil; return a < b end)
m(function() return {} == {} or nil > 1 end)

print("== bad arguments to base functions")
m(function() setmetatable(nil, {}) end)
m(function() ipairs() end)
m(function() ipairs(nil) end)
m(function() select() end)
m(function() select(0) end)
m(function() select("a") end)
m(function() rawlen() end)
m(function() rawequal(1) end)
m(function() rawget() end)
m(function() rawset({}, 1) end)
m(function() next() end)
m(function() pairs() end)
m(function() pairs(nil) end)
m(function() getmetatable() end)
m(function() type() end)
m(function() tostring() end)
m(function() xpcall() end)
m(function() load() end)
m(function() load(5) end)
m(function() collectgarbage("bogus") end)
m(function() collectgarbage(1) end)
m(function() coroutine.create(1) end)
m(function() coroutine.resume(1) end)
m(function() coroutine.wrap() end)
m(function() coroutine.status(nil) end)

print("== misc")
print(tostring(nil), tostring(true), tostring(false))
-- (more stack overflow cases are in stack_overflow.lua)
local ok2, e2
local depth = 0
local function so2() depth = depth + 1; so2() end
ok2, e2 = pcall(so2)
print("stack overflow 2:", ok2, type(e2), depth > 1000)
-- errors in nested pcall do not escape
print(pcall(function()
  local a, b = pcall(error, "inner")
  return "outer ok", a, b
end))
-- error with level pointing into a C function
print(pcall(function() local function f() error("lvl", 2) end return pcall(f) end))
-- function names in 'bad argument' messages: from the call site when known,
-- otherwise from the global/loaded-library name
print(pcall(coroutine.create, 1))
print(pcall(setmetatable, 1))
local sm = setmetatable
print(pcall(function() sm(1) end))
local lib = {fn = setmetatable}
print(pcall(function() lib.fn(1) end))
print(pcall(function() lib:fn() end))
print(pcall(function() rawlen(1) end))
