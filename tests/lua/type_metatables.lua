-- grants: debug
-- debug.setmetatable on numbers, booleans, nil, functions and threads: one metatable per
-- type, used by every operator and by getmetatable (issue #11)
local nmt = {__index = {double = function(x) return x * 2 end}, __name = "Num",
  __call = function(self, a) return "called " .. tostring(self) .. " with " .. tostring(a) end,
  __concat = function(a, b) return "cat" end,
  __len = function(x) return "len" .. tostring(x) end}
print(debug.setmetatable(10, nmt))
print(getmetatable(1) == nmt, getmetatable(2.5) == nmt, debug.getmetatable(3) == nmt)
print((5):double(), (1.5):double(), (7)(8), 3 .. {}, #4)
print(pcall(string.rep, "x", {}))
print(pcall(string.rep, 5))
print(pcall(setmetatable, 5, {}))
print(pcall(next, 2.5))
print(pcall(function() return 1 < {} end))
print(pcall(function() return ("x"):rep({}) end))
-- arithmetic: numbers with a metatable still use plain arithmetic when both are numbers
nmt.__add = function(a, b) return "added" end
print(1 + 2, 1 + {}, {} + 1)
print(pcall(function() return 1 + nil end))
-- strings fall back to the number's metamethod in the string library's __add
print("abc" + 1)
nmt.__add = nil
print(pcall(function() return "abc" + 1 end))
print(debug.setmetatable(0, nil))
print(getmetatable(1), pcall(function() return (5):double() end))

local bmt = {__index = function(b, k) return k .. "/" .. tostring(b) end, __metatable = "locked",
  __lt = function(a, b) return "lt" end, __unm = function(b) return "neg" end}
print(debug.setmetatable(true, bmt))
print(getmetatable(false), debug.getmetatable(true) == bmt)
print((true).x, (false).y, true < false, -true)
print(pcall(setmetatable, true, {}))
debug.setmetatable(false, nil)

local zmt = {__index = function(_, k) return "nil." .. k end, __call = function() return "nil called" end}
debug.setmetatable(nil, zmt)
print((nil).field, (nil)(), getmetatable(nil) == zmt)
local t = nil
print(t.x)
debug.setmetatable(nil, nil)
print(pcall(function() local u = nil; return u.x end))

local fmt = {__index = {name = "fn"}, __concat = function(a, b) return "fcat" end}
debug.setmetatable(print, fmt)
print(print.name, (function() end).name, print .. 1, getmetatable(math.floor) == fmt)
debug.setmetatable(print, nil)

local co = coroutine.create(function() end)
local tmt = {__index = {kind = "thread"}, __tostring = function() return "THREAD" end}
debug.setmetatable(co, tmt)
print(co.kind, coroutine.running().kind, tostring(co))
debug.setmetatable(co, nil)
print(pcall(debug.setmetatable, 1, 2))
-- __tostring and __name of per-type metatables in tostring/print/format
debug.setmetatable(0, {__tostring = function(n) return "N" .. string.format("%d", n) end})
print(tostring(5), 6)
print(string.format("%s|%d", 7, 8))
debug.setmetatable(0, {__name = "Num"})
print(tostring(5), string.format("%s", 1.5))
debug.setmetatable(0, nil)
debug.setmetatable(true, {__tostring = function() return "B" end})
print(true, tostring(false))
debug.setmetatable(nil, {__name = "Nothing"})
print(nil, tostring(nil))
debug.setmetatable(nil, nil) debug.setmetatable(true, nil)
getmetatable("").__tostring = function(s) return "S:" .. #s end
print("abc", tostring("de"), string.format("%s", "f"))
getmetatable("").__tostring = nil
print("plain")
