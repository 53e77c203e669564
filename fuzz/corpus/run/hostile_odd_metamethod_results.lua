-- expect: ok
-- Attacks: __eq/__lt/__le/__concat/__len/__call/__index/__unm returning odd things (nil,
-- tables, many values, no values, coroutines), metamethods that are non-functions, and
-- __call chains (callable tables whose __call is another callable table).
local mt = {}
local a, b = setmetatable({}, mt), setmetatable({}, mt)
mt.__eq = function() return {} end
assert((a == b) == true)
mt.__eq = function() end
assert((a == b) == false)
mt.__lt = function() return nil, 1, 2 end
assert((a < b) == false)
mt.__le = function() return 0 end
assert((a <= b) == true)
mt.__concat = function() return a, b, 3 end
assert(a .. "x" == a)
mt.__concat = function() end
assert(a .. "x" .. "y" == nil)
mt.__len = function() return "not a number" end
assert(#a == "not a number")
mt.__len = function() return end
assert(#a == nil)
local ok, e = pcall(function() for i = 1, #a do end end)
assert(not ok)
mt.__unm = function() return coroutine.create(print) end
assert(type(-a) == "thread")
mt.__index = function() return 1, 2, 3 end
assert(select("#", a.x) == 1)
mt.__call = function(self, ...) return ... end
assert(select("#", a(1, 2, 3)) == 3)
-- non-callable metamethods
mt.__add = 42
ok, e = pcall(function() return a + 1 end)
assert(not ok and e:find("attempt to call a number value"), e)
mt.__index = 42
ok, e = pcall(function() return a.x end)
assert(not ok and e:find("attempt to index a number value"), e)
-- __call chains: callable tables whose __call is a callable table
local f = function(...) return select("#", ...) end
local c = f
for i = 1, 150 do c = setmetatable({}, {__call = c}) end
ok, e = pcall(c)
assert(type(ok) == "boolean")
local loop = setmetatable({}, {})
getmetatable(loop).__call = loop
ok, e = pcall(loop)
assert(not ok, "a __call cycle must error")
-- __index on a string metatable-proof: strings are protected
ok, e = pcall(function() getmetatable("").__index = function() end end)
assert(not ok)
-- rawequal/rawlen/rawget/rawset with bad args
assert(not pcall(rawlen, 1))
assert(not pcall(rawset, {}, nil, 1))
assert(not pcall(rawset, {}, 0/0, 1))
ok, e = pcall(function() local t = {} t[0/0] = 1 end)
assert(not ok and e:find("index is NaN"), e)
ok, e = pcall(function() local t = {} t[nil] = 1 end)
assert(not ok and e:find("index is nil"), e)
assert(({})[0/0] == nil and ({})[nil] == nil)
-- __newindex is a function that errors
local ro = setmetatable({}, {__newindex = function() error("read-only!") end})
ok, e = pcall(function() ro.x = 1 end)
assert(not ok and e:find("read%-only!"), e)
-- __gc, __mode, __metatable odd values
setmetatable({}, {__mode = "kvkvkv"})
setmetatable({}, {__mode = 42})
setmetatable({}, {__gc = true})
