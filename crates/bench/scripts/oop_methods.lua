-- OOP: classes with metatables, __index inheritance chains, method calls.
local Point = {}
Point.__index = Point

function Point.new(x, y)
  return setmetatable({ x = x, y = y }, Point)
end

function Point:add(o)
  return Point.new(self.x + o.x, self.y + o.y)
end

function Point:dot(o)
  return self.x * o.x + self.y * o.y
end

local Shape = {}
Shape.__index = Shape

function Shape.new(kind)
  return setmetatable({ kind = kind, moves = 0 }, Shape)
end

function Shape:move()
  self.moves = self.moves + 1
  return self.moves
end

function Shape:area()
  return 0
end

local Rect = setmetatable({}, { __index = Shape })
Rect.__index = Rect

function Rect.new(w, h)
  local r = Shape.new("rect")
  r.w, r.h = w, h
  return setmetatable(r, Rect)
end

function Rect:area()
  return self.w * self.h
end

local Square = setmetatable({}, { __index = Rect })
Square.__index = Square

function Square.new(s)
  local r = Rect.new(s, s)
  return setmetatable(r, Square)
end

local Counter = setmetatable({}, {
  __call = function(cls, start) return setmetatable({ n = start }, cls) end,
})
Counter.__index = Counter
function Counter:inc(by) self.n = self.n + by; return self end
function Counter:get() return self.n end

local checksum = 0
local acc = Point.new(0, 0)
local shapes = {}
for i = 1, 100 do
  if i % 2 == 0 then shapes[i] = Rect.new(i, i + 1) else shapes[i] = Square.new(i) end
end
local c = Counter(0)
for i = 1, 500000 do
  local p = Point.new(i % 7, i % 11)
  acc = acc:add(p)
  checksum = checksum + p:dot(acc) % 1000
  local s = shapes[i % 100 + 1]
  checksum = checksum + s:area() % 97 + s:move() % 3
  c:inc(1):inc(2)
end
checksum = checksum + acc.x + acc.y + c:get()
print(checksum)
