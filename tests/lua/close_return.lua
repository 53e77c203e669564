-- `return` and `Close` after a `__close` call: the returned values and the registers
-- written just before must survive the call (issue #11).
local log = {}
local closer = setmetatable({}, {__close = function() log[#log + 1] = "closed"; return 99 end})
local function iter(s, c) if c < s then return c + 1 end end

local function f() for i in iter, 5, 0, closer do if i == 2 then return "at " .. i end end end
print(f())
local function f2() for i in iter, 5, 0, closer do if i == 3 then local s = "at " .. i; return s end end end
print(f2())
local function f3() do local x <close> = closer; local i = 2; return "at " .. i end end
print(f3())
local function f4() for i in iter, 5, 0, closer do if i == 2 then return i, 7, i * 3 end end end
print(f4())

-- two nested closing iterators
local function g()
  for i in iter, 5, 0, closer do
    for j in iter, 3, 0, closer do
      if i == 2 and j == 3 then return "at " .. i .. j, i * j end
    end
  end
end
print(g())
print(#log)

-- the instruction before a `Close` keeps its result
local n = 5
local y
do local x <close> = closer; y = 1 + n end
print(y)
local z
do local x <close> = closer; z = "a" .. n end
print(z)

-- varargs returned through two to-be-closed variables
local function h(...)
  local a <close> = closer
  local b <close> = closer
  return select('#', ...), ...
end
print(h(1, nil, 3))
print((h()))

-- errors raised inside __close carry their position
local bad = setmetatable({}, {__close = function() error("in close") end})
print(pcall(function() local x <close> = bad; return 1 end))
print(pcall(function() do local x <close> = bad end return 1 end))
print(pcall(function() local x <close> = bad; error("first") end))
local bad2 = setmetatable({}, {__close = function() local t = nil; return t.f end})
print(pcall(function() local x <close> = bad2 end))
print(pcall(function() for i in iter, 2, 0, bad do if i == 1 then return i end end end))
