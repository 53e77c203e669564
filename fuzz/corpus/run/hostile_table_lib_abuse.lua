-- expect: ok
-- Attacks: the table library on proxies with odd __len/__index/__newindex (negative,
-- float, huge, erroring, yielding lengths), table.move between overlapping proxies,
-- table.insert into a table with a huge fake length, table.remove shifting a huge proxy.
local function proxy(len)
  return setmetatable({}, {__len = function() return len end})
end
local ok, e = pcall(table.insert, proxy("x"), 1)
assert(not ok and e:find("object length is not an integer"), e)
ok, e = pcall(table.insert, proxy(1.5), 1)
assert(not ok and e:find("object length is not an integer"), e)
ok, e = pcall(table.insert, proxy(math.maxinteger), 1)
assert(not ok or true)
ok, e = pcall(table.insert, proxy(-5), 1)
assert(type(ok) == "boolean")
ok, e = pcall(table.remove, proxy(math.mininteger))
assert(type(ok) == "boolean")
ok, e = pcall(table.concat, proxy(-1))
assert(ok and e == "")
ok, e = pcall(table.unpack, proxy(-1))
assert(ok)
ok, e = pcall(table.insert, setmetatable({}, {__len = function() error("len!") end}), 1)
assert(not ok and e:find("len!"), e)
ok, e = pcall(table.insert, 1, 1)
assert(not ok and e:find("table expected"), e)
ok, e = pcall(table.insert, {}, 1, 2, 3)
assert(not ok)
ok, e = pcall(table.insert, {}, 0, 2)
assert(not ok and e:find("position out of bounds"), e)
ok, e = pcall(table.insert, {}, 3, 2)
assert(not ok and e:find("position out of bounds"), e)
-- table.remove on a 1e6-element proxy with a huge length: paid element by element
local calls = 0
local p = setmetatable({}, {
  __len = function() return 100000 end,
  __index = function(_, i) calls = calls + 1 return i end,
  __newindex = function() end,
})
assert(table.remove(p, 1) == 1)
assert(calls >= 100000)
-- table.move overlapping, reversed, onto itself, with __index/__newindex
local t = {}
for i = 1, 1000 do t[i] = i end
table.move(t, 1, 999, 2)
assert(t[2] == 1 and t[1000] == 999)
table.move(t, 2, 1000, 1)
assert(t[1] == 1)
local moved = table.move(setmetatable({}, {__index = function(_, i) return i * 2 end}), 1, 100, 1, {})
assert(moved[100] == 200)
ok, e = pcall(table.move, {}, 1, 2, 3, 42)
assert(not ok)
-- table.pack/unpack with n fields lying
local lie = table.pack(1, 2, 3)
lie.n = 1e9
assert(select("#", table.unpack(lie, 1, 3)) == 3)
-- next() over a table mutated with new keys during traversal
local m = {}
for i = 1, 100 do m["k" .. i] = i end
ok = pcall(function() for k in pairs(m) do m[k] = nil end end)
assert(ok)
-- # on tables with holes, border cases
local h = {}
h[1], h[2], h[4] = 1, 2, 4
assert(#h == 2 or #h == 4)
h = {n = 1, [math.maxinteger] = 1, [math.mininteger] = 1, [0] = 1, [-1] = 1}
assert(#h == 0)
h = {}
h[2^53] = 1
assert(#h == 0)
-- huge sparse integer keys, float keys that normalise, -0.0
local s = {}
s[1e308] = 1; s[-0.0] = 2; s[2^63] = 3; s[math.mininteger] = 4
assert(s[0] == 2 and s[1e308] == 1 and s[2^63] == 3 and s[-2^63] == 4)
