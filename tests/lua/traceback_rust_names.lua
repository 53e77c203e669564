-- Tracebacks name Rust functions like PUC names C functions: library functions by their
-- name (function 'string.gsub'), others by the code that called them (a coroutine.wrap
-- function, iterators, the string metatable's arithmetic), and a Rust function that raised
-- from a continuation (gsub's replacement check, wrap's error) is listed (issue #11).
local function tb(f) print(select(2, xpcall(f, debug.traceback))) end
local t = setmetatable({}, {__add = function(a, b) error('bad add') end})
local function g() return t + 1 end
local function f() local x = g() return x end
local co = coroutine.wrap(function() f() end)
tb(function() co() end)
local holder = {gen = coroutine.wrap(function() error("boom") end)}
tb(function() holder.gen() end)
tb(function() local r = string.gsub("x", "x", function() return {} end) return r end)
local mt = setmetatable({}, {__index = function(t, k) error("idx") end})
tb(function() for i, v in ipairs(mt) do end end)
tb(function() for k in string.gmatch("abc", "(") do end end)
tb(function() return "10" + {} end)
tb(function() return -"x" end)
tb(function() local s = {} for i = 1, 20 do s[i] = 21 - i end table.sort(s, function(a, b) return true end) end)
tb(function() return tostring(setmetatable({}, {__tostring = function() return {} end})) end)
tb(function() for _, c in utf8.codes("a\xff") do end end)
local up = coroutine.wrap(function() error("up") end)
tb(function() return up() end)
tb(function() local ok = pcall(up) error("after") end)
-- a dead coroutine keeps the Rust function that raised
local c2 = coroutine.create(function() return string.gsub("y", "y", function() return {} end) end)
print(coroutine.resume(c2))
print(debug.traceback(c2))
