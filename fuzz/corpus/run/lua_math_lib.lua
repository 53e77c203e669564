-- math library: integer/float result rules and PUC error messages
local function show(...)
  local t = table.pack(...)
  local out = {}
  for i = 1, t.n do
    local v = t[i]
    if type(v) == "number" then
      out[#out + 1] = tostring(v) .. ":" .. math.type(v)
    else
      out[#out + 1] = tostring(v)
    end
  end
  print(table.concat(out, " "))
end

show(math.pi, math.huge, -math.huge, math.maxinteger, math.mininteger)
show(math.abs(-3), math.abs(-3.5), math.abs(-9223372036854775807 - 1), math.abs(-0.0), math.abs("-3"))
show(math.floor(3.7), math.floor(-3.7), math.floor(5), math.floor(2^70), math.floor(-0.0), math.floor("3.7"))
show(math.ceil(3.2), math.ceil(-3.2), math.ceil(5), math.ceil(2^70), math.ceil("5"), math.ceil(-0.5))
show(math.floor(-2^63), math.ceil(2^63), math.floor(1/0), math.ceil(-1/0))
show(math.fmod(7, 3), math.fmod(-7, 3), math.fmod(7, -3), math.fmod(-7, -3))
show(math.fmod(-9223372036854775807 - 1, -1), math.fmod(5, -1), math.fmod(7.5, 2), math.fmod(-6, 2.0))
show(math.fmod("7", "3"), math.fmod(1, 1/0), math.fmod(3, 9223372036854775807))
print(math.fmod(1, 0.0) ~= math.fmod(1, 0.0))
show(math.modf(3.7))
show(math.modf(-3.7))
show(math.modf(5))
show(math.modf(1/0))
show(math.modf(-1/0))
show(math.modf(2^70))
show(math.modf(-0.0))
show(math.modf("2.5"))
show(math.sqrt(16), math.sqrt(2), math.exp(0), math.exp(1))
show(math.log(1), math.log(8, 2), math.log(100, 10), math.log(27, 3), math.log(1024, 4), math.log(0))
show(math.sin(0), math.cos(0), math.tan(0), math.asin(1), math.acos(1), math.atan(1))
show(math.atan(1, -1), math.atan(-1, -1), math.atan(0, -1), math.atan(1, 0), math.atan(3, nil))
show(math.deg(math.pi), math.rad(180), math.deg(1), math.rad(1))
show(math.tointeger(3), math.tointeger(3.0), math.tointeger(3.5), math.tointeger("8"), math.tointeger("x"), math.tointeger({}))
show(math.tointeger(2^63), math.tointeger(-2^63), math.tointeger(1/0))
show(math.type(1), math.type(1.0), math.type("1"), math.type(nil), math.type({}))
show(math.ult(1, 2), math.ult(-1, 2), math.ult(2, -1), math.ult(-9223372036854775807 - 1, 9223372036854775807))
show(math.max(1, 5, 3), math.max(1.5, 2), math.max(2, 2.0), math.max(2.0, 2), math.max(-1))
show(math.min(1, 5, 3), math.min(1.5, 2), math.min(2, 2.0), math.min(2.0, 2), math.min(7))
show(math.max("a", "b", "ab"), math.min("a", "b", "ab"))
show(math.max(1/0, 3), math.min(-1/0, 3), math.max(0.0, -0.0), math.min(0.0, -0.0))

-- __lt metamethods are used by max/min
local mt = {__lt = function(a, b) return a.v < b.v end}
local function obj(v) return setmetatable({v = v}, mt) end
print(math.max(obj(3), obj(7), obj(5)).v, math.min(obj(3), obj(7), obj(1)).v)
local single = {}
print(math.max(single) == single)

-- errors
local function err(f, ...)
  print(select(2, pcall(f, ...)))
end
err(math.abs)
err(math.abs, "x")
err(math.floor, {})
err(math.ceil)
err(math.sqrt, nil)
err(math.fmod, 1, 0)
err(math.fmod, 1)
err(math.fmod, -9223372036854775807 - 1, 0)
err(math.log, "x")
err(math.log, 2, {})
err(math.max)
err(math.min)
err(math.max, 1, "x")
err(math.min, {}, 1)
err(math.max, {}, {})
err(math.tointeger)
err(math.type)
err(math.ult, 1.5, 2)
err(math.ult, 1, "y")
err(math.atan)
err(math.modf)
print(pcall(function() return math.floor("abc") end))
print(pcall(function() return math.max(1, nil) end))
