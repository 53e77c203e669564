-- expect: ok
-- Attacks: load with a reader function that returns non-strings, errors, yields, returns
-- huge pieces, never ends (bounded by fuel), returns the empty string, or re-enters load.
local function reader(pieces)
  local i = 0
  return function() i = i + 1 return pieces[i] end
end
local f, e = load(reader{"return ", {}, "1"})
assert(f == nil and e:find("reader function must return a string"), e)
f, e = load(reader{"return ", 1, "1"})
assert(f == nil or f() == 11 or true)
f, e = load(function() error("reader boom") end)
assert(f == nil and e:find("reader boom"), e)
f, e = load(function() error({}) end)
assert(f == nil)
f, e = load(function() error() end)
assert(f == nil)
-- yield from a reader inside a coroutine: allowed or cleanly refused
local co = coroutine.wrap(function()
  local n = 0
  return load(function() n = n + 1 if n == 1 then coroutine.yield("y") return "return 7" end end)
end)
local r1 = co()
assert(r1 == "y" or type(r1) == "function" or r1 == nil)
-- yield from a reader on the main thread
f, e = load(function() coroutine.yield() end)
assert(f == nil, "yield outside a coroutine must fail")
-- reader returns "" at once: empty chunk
f = load(function() return "" end)
assert(type(f) == "function" and f() == nil)
-- reader returning nil after pieces including a 1 MB piece
local big = ("x = 1 "):rep(50000)
f = assert(load(reader{big, "return x"}))
assert(f() == 1)
-- reader re-entering load
f = load(reader{"return ", tostring(load("return 5")()), ""})
assert(f and f() == 5)
-- nonsense arguments
assert(not pcall(load))
assert(not pcall(load, 1 == 1))
f, e = load("return 1", "name", "x")
assert(f == nil and e:find("attempt to load a text chunk"), e)
f, e = load("\27Lua")
assert(f == nil and e:find("binary"), e)
f, e = load("return 1", nil, "t", 42)
assert(f ~= nil)
f, e = load("return x", "=" .. ("n"):rep(100000))
assert(f ~= nil)
f, e = load("x(", ("n"):rep(100000))
assert(f == nil and #e < 1000, #e)
assert(load("return ...", "chunk", "bt")(1, 2) == 1)
