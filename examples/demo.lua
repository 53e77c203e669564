-- A tour of lunette: classes, closures, coroutines as tasklets, error handling.

-- A tiny class system with inheritance through __index.
local Entity = {}
Entity.__index = Entity

function Entity.new(name, x, y)
  return setmetatable({ name = name, x = x, y = y }, Entity)
end

function Entity:move(dx, dy)
  self.x, self.y = self.x + dx, self.y + dy
end

function Entity:__tostring()
  return self.name .. "@(" .. self.x .. "," .. self.y .. ")"
end

local Player = setmetatable({}, { __index = Entity })
Player.__index = Player
Player.__tostring = Entity.__tostring

function Player.new(name)
  local p = Entity.new(name, 0, 0)
  p.score = 0
  return setmetatable(p, Player)
end

function Player:collect(points)
  self.score = self.score + points
end

-- Tasklets: each entity runs a script as a coroutine, one step per frame.
local function patrol(e, steps)
  return coroutine.wrap(function()
    for i = 1, steps do
      e:move(1, (i % 2 == 0) and 1 or -1)
      coroutine.yield(i)
    end
    return "done"
  end)
end

local hero = Player.new("hero")
local slime = Entity.new("slime", 10, 5)
local tasks = { patrol(hero, 3), patrol(slime, 5) }

for frame = 1, 5 do
  local status = {}
  for i, task in ipairs(tasks) do
    status[i] = tostring(task and task() or "idle")
    if status[i] == "done" then tasks[i] = false end
  end
  print("frame " .. frame, status[1], status[2], tostring(hero), tostring(slime))
end

-- Closures with private state.
local function counter()
  local n = 0
  return function() n = n + 1; return n end
end
local c = counter()
c(); c()
print("counter:", c())

-- Errors are values; integer and float arithmetic follow Lua 5.4.
hero:collect(10)
print("score:", hero.score, "ratio:", hero.score / 4, "floor div:", hero.score // 4)
local ok, err = pcall(function() return hero.inventory.sword end)
print("pcall:", ok, err)
print("integer overflow wraps:", 9223372036854775807 + 1 == -9223372036854775807 - 1)
