-- expect: ok
-- Attacks: table.sort with elements whose __lt recurses forever, a comparator that
-- errors, an inconsistent comparator ("invalid order function for sorting"), a
-- comparator that yields outside a coroutine, and sorting huge/fake lengths.
local mt = {__lt = function(a, b) return a < b end}
local t = {}
for i = 1, 10 do t[i] = setmetatable({}, mt) end
local ok, e = pcall(table.sort, t)
assert(not ok and e:find("stack overflow"), e)
ok, e = pcall(table.sort, {3, 2, 1}, function(a, b) error("cmp") end)
assert(not ok and e:find("cmp"), e)
local r = {}
for i = 1, 200 do r[i] = i % 7 end
ok, e = pcall(table.sort, r, function(a, b) return true end)
assert(not ok and e:find("invalid order function for sorting"), e)
ok, e = pcall(table.sort, {1, 2, 3}, function(a, b) coroutine.yield() end)
assert(not ok, "yield from the main thread must fail")
ok, e = pcall(table.sort, setmetatable({}, {__len = function() return math.maxinteger end}))
assert(not ok and e:find("array too big"), e)
ok, e = pcall(table.sort, setmetatable({}, {__len = function() return 2^40 end}))
assert(not ok, "sorting a 2^40-long proxy must fail")
ok, e = pcall(table.sort, {1, "x", 2})
assert(not ok and e:find("attempt to compare"), e)
-- sorting with a comparator that mutates the table while sorting
local m = {}
for i = 1, 100 do m[i] = 100 - i end
pcall(table.sort, m, function(a, b) m[math.random(100)] = a; return a < b end)
