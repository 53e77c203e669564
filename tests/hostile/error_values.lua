-- expect: ok
-- steps: 2000
-- (The pcall(pcall, ...) chain of 10^4 moves its arguments down at every level: ~5*10^7
-- value moves, charged one unit per 8, ~700 steps.)
-- Attacks: error with every value type and level (nil, booleans, numbers, NaN, tables with
-- and without __tostring, functions, coroutines, huge strings, negative/huge levels), deep
-- pcall(pcall, pcall, ...) chains, xpcall with erroring/recursive handlers.
local values = {false, true, 0, -1, 1.5, 0/0, math.huge, "", ("e"):rep(1000000), {},
  setmetatable({}, {__tostring = function() return "custom" end}), print, function() end,
  coroutine.create(print)}
for i, v in ipairs(values) do
  local ok, e = pcall(error, v)
  assert(not ok and (e == v or v ~= v), "value " .. i)
end
local ok, e = pcall(error)
assert(not ok and e == nil)
ok, e = pcall(error, nil)
assert(not ok and e == nil)
for _, level in ipairs{0, 1, 2, 3, 50, -1, math.maxinteger, math.mininteger} do
  ok, e = pcall(error, "msg", level)
  assert(not ok and type(e) == "string" and e:find("msg"))
end
ok, e = pcall(error, "msg", 2^63)
assert(not ok)
-- deep pcall(pcall, pcall, ..., error) chain
local args = {}
for i = 1, 10000 do args[i] = pcall end
args[#args + 1] = error
args[#args + 1] = "bottom"
local r = table.pack(pcall(table.unpack(args)))
assert(r.n >= 1)
-- nested pcalls through Lua closures
local function nest(n) if n == 0 then error("deep") end return pcall(nest, n - 1) end
local r2 = table.pack(nest(10000))
assert(r2.n >= 2)
-- xpcall with a handler that errors: "error in error handling" or similar
ok, e = xpcall(error, function() error("handler") end, "x")
assert(not ok)
-- xpcall with a non-function handler
ok, e = pcall(xpcall, error, 42, "x")
assert(not ok)
ok, e = pcall(xpcall)
assert(not ok)
-- stack overflow inside xpcall's handler after a stack overflow
local function rec() return 1 + rec() end
ok, e = xpcall(rec, function(m) return rec() end)
assert(not ok)
-- errors with position info are built from huge chunk names
local f = load("error('x')", "=" .. ("n"):rep(100000))
ok, e = pcall(f)
assert(not ok and #e < 200000)
-- error objects survive coroutine boundaries
local co = coroutine.create(function() error(values[10]) end)
local okc, ec = coroutine.resume(co)
assert(not okc and ec == values[10])
-- assert with odd messages
ok, e = pcall(assert, false, values[10])
assert(not ok and e == values[10])
ok, e = pcall(assert, nil)
assert(not ok and e == "assertion failed!")
ok, e = pcall(assert)
assert(not ok and e:find("value expected"), e)
