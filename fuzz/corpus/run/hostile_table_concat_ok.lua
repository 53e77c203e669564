-- expect: ok
-- Attacks: big but legal table.concat uses (100k small pieces, ranges near maxinteger,
-- empty ranges, invalid values) must be correct and cheap.
local t = {}
for i = 1, 100000 do t[i] = i % 10 end
assert(#table.concat(t) == 100000)
assert(#table.concat(t, ",") == 199999)
assert(table.concat(t, ",", 5, 4) == "")
assert(table.concat({}, ("x"):rep(1000)) == "")
assert(table.concat({}, "x", math.maxinteger, math.mininteger) == "")
assert(table.concat({}, "x", math.maxinteger, math.maxinteger - 1) == "")
local ok, e = pcall(table.concat, {}, "x", math.maxinteger - 2, math.maxinteger)
assert(not ok and e:find("invalid value"), e)
ok, e = pcall(table.concat, {1, {}, 3})
assert(not ok and e:find("invalid value"), e)
ok, e = pcall(table.concat, {1, 2, 3}, {})
assert(not ok)
-- a proxy with __index answering every index: bounded by fuel, not by memory
local proxy = setmetatable({}, {__index = function(_, i) return "z" end, __len = function() return 50000 end})
assert(#table.concat(proxy) == 50000)
