-- A numeral on the left of `+` or `*` (compiled with the constant on the right, like PUC):
-- the same results, metamethods receive the operands in source order, errors name the
-- variable.
local x, f, s = 7, 2.5, "10"
print(2 * x, x * 2, 1 + x, x + 1, 2.0 * x, 0.5 * f, 1 + f, 300000 + x, 1e300 * f)
print(math.type(2 * x), math.type(2.0 * x), math.type(1 + x), math.type(1.0 + x))
print(2 * s, 1 + s, "3" * 2, math.type(1 + s))
print(-1 * x, 0 * -f, -0.0 * f, 1 / (0 * -f))
print(math.maxinteger + 1 == math.mininteger, 1 + math.maxinteger == math.mininteger)

local mt = {}
mt.__add = function(a, b)
  return "add(" .. tostring(type(a) == "table" and "obj" or a) .. ", " ..
    tostring(type(b) == "table" and "obj" or b) .. ")"
end
mt.__mul = function(a, b)
  return "mul(" .. tostring(type(a) == "table" and "obj" or a) .. ", " ..
    tostring(type(b) == "table" and "obj" or b) .. ")"
end
local o = setmetatable({}, mt)
print(1 + o, o + 1, 2 * o, o * 2, 1.5 + o, o + 1.5, 3.5 * o, o * 3.5, 100000 + o)

local function try(fn) local ok, err = pcall(fn); print(ok, err) end
local n = nil
local t = {}
try(function() return 1 + n end)
try(function() return n + 1 end)
try(function() return 2 * n end)
try(function() return 2.5 * t end)
try(function() return 1.5 + t.field end)
try(function() return 100000 + {} end)
try(function() return 2 * "abc" end)
try(function() return 1 + "x1" end)
