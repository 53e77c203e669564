-- `__index` chains: through tables (classes and bases), ending in functions, in other
-- types' metatables (strings), and loops that end with PUC's "chain too long" error.

local Base = {}
Base.__index = Base
function Base.hello() return "base hello" end
local Mid = setmetatable({}, Base)
Mid.__index = Mid
function Mid.mid() return "mid" end
local Leaf = setmetatable({}, Mid)
Leaf.__index = Leaf
local obj = setmetatable({own = 1}, Leaf)
print(obj.own, obj.mid(), obj.hello(), obj.missing)

-- A chain of 100 tables, the last with a function handler.
local last = setmetatable({}, {__index = function(t, k) return "fn:" .. tostring(k) end})
local cur = last
for i = 1, 100 do
  cur = setmetatable({["level" .. i] = i}, {__index = cur})
end
print(cur.level100, cur.level1, cur.level50, cur.nothing, cur[42])

-- The function handler gets the table whose metatable held it.
local holder = setmetatable({}, {__index = function(t, k) return t end})
local via = setmetatable({}, {__index = holder})
print(via.x == holder, via.x == via)

-- A table chain that ends in a string: strings index through their metatable.
local tostr = setmetatable({}, {__index = "abc"})
print(type(tostr.len), tostr.upper == string.upper)
print(pcall(function() return setmetatable({}, {__index = 42}).x end))

-- Loops: a table that is its own __index, and a two-table cycle.
local selfloop = setmetatable({}, {})
getmetatable(selfloop).__index = selfloop
print(pcall(function() return selfloop.x end))
local a, b = {}, {}
setmetatable(a, {__index = b})
setmetatable(b, {__index = a})
print(pcall(function() return a.y end))

-- Long chains: PUC follows at most 2000 handlers (MAXTAGLOOP).
local function chain(n)
  local t = {target = "found"}
  for _ = 1, n do t = setmetatable({}, {__index = t}) end
  return t
end
print(pcall(function() return chain(1999).target end))
print(pcall(function() return chain(2000).target end))
print(pcall(function() return chain(2001).target end))

-- Method calls through the chain.
function Base:name() return "I am " .. self.tag end
local inst = setmetatable({tag = "leaf"}, Leaf)
print(inst:name())
