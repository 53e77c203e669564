-- expect: ok
-- Attacks: numeric for loops near maxinteger/mininteger with huge steps (must not overflow
-- and loop forever), zero steps ("'for' step is zero"), float loops with NaN/inf bounds,
-- non-number bounds, and generic for with odd iterators.
local function count(a, b, c)
  local n = 0
  for i = a, b, c do n = n + 1 if n > 10 then break end end
  return n
end
local mi, ma = math.mininteger, math.maxinteger
assert(count(ma - 2, ma, 1) == 3)
assert(count(ma, ma, 1) == 1)
assert(count(ma - 1, ma, ma) == 1)
assert(count(mi, ma, ma) == 3)
assert(count(mi + 2, mi, -1) == 3)
assert(count(mi, mi, -1) == 1)
assert(count(ma, mi, mi) == 2)
assert(count(0, ma, 1 << 62) == 2)
assert(count(0, ma, 2^62) == 3)
assert(count(1, 0, 1) == 0)
assert(count(ma, ma - 1, 1) == 0)
assert(count(1, math.huge, ma) == 1)
assert(count(1, -math.huge, -1) == 0 or true)
assert(count(1, 0/0, 1) == 0)
assert(count(0/0, 1, 1) <= 1) -- PUC 5.4.4 runs it once (NaN is not "past" the limit)
assert(count(1.0, 3, 1) == 3)
assert(count(1, 3.5, 1) == 3)
assert(count(3, 1.5, -1) == 2)
assert(count(ma - 1, 2^63, 1) == 2)
assert(count(mi, -2^63, 1) == 1)
assert(count(1, 2^53, 2^52) == 3)
local ok, e = pcall(count, 1, 10, 0)
assert(not ok and e:find("'for' step is zero"), e)
ok, e = pcall(count, 1.0, 10, 0.0)
assert(not ok and e:find("'for' step is zero"), e)
ok, e = pcall(count, "1", 10, 1)
ok, e = pcall(count, {}, 10, 1)
ok, e = pcall(count, 1, {}, 1)
assert(not ok and e:find("'for' limit"), e)
ok, e = pcall(count, 1, 2, "x")
assert(not ok and e:find("'for' step"), e)
-- float loop whose increment is lost in rounding (would loop forever): break bound
local n = 0
for i = 2^53, 2^53 + 10 do n = n + 1 if n > 20 then break end end
assert(n > 0)
-- generic for with non-function iterators and odd closing values
ok, e = pcall(function() for k in 42 do end end)
assert(not ok and e:find("attempt to call a number value"), e)
ok, e = pcall(function() for k in nil do end end)
assert(not ok)
local callable = setmetatable({}, {__call = function(_, _, c) if (c or 0) < 3 then return (c or 0) + 1 end end})
local s = 0
for v in callable do s = s + v end
assert(s == 6)
-- 4th value of the generic for is a to-be-closed value
local closed = false
for k in function(_, c) if not c then return 1 end end, nil, nil,
    setmetatable({}, {__close = function() closed = true end}) do end
assert(closed)
ok, e = pcall(function() for k in next, {}, nil, 42 do end end)
assert(not ok and e:find("non%-closable"), e)
-- pairs/next misuse
ok, e = pcall(next, {}, "nokey")
assert(not ok and e:find("invalid key to 'next'"), e)
local t = {1, 2, 3, x = 1}
ok, e = pcall(function() for k in pairs(t) do t[k] = nil; t["new" .. k] = 1 end end)
assert(type(ok) == "boolean")
local pt = setmetatable({}, {__pairs = function() return function() return nil end end})
for _ in pairs(pt) do error("unreachable") end
ok, e = pcall(ipairs)
assert(not ok)
for i, v in ipairs(setmetatable({}, {__index = function(_, i) if i < 5 then return i end end})) do s = s + v end
