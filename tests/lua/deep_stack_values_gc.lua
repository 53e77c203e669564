-- grants: debug
-- Values stored into the slots of frames deep in a recursion (through open upvalues and
-- debug.setlocal), held there only, while the collector runs cycles above them: they must
-- survive with their contents.

local function churn(n)
  -- Garbage enough for a collector cycle or more.
  local keep = {}
  for i = 1, n do
    keep[i % 512 + 1] = { i, tostring(i) }
  end
  return #keep
end

local function deep(n, at_top)
  if n == 0 then
    return at_top()
  end
  local r = deep(n - 1, at_top)
  return r
end

-- 1. A local of the bottom frame, set from 5000 calls up through an open upvalue.
local function bottom()
  local held = nil
  local count = 0
  local function set(v)
    held = v
    count = count + 1
  end
  local sum = deep(5000, function()
    local s = 0
    for round = 1, 40 do
      set({ round, "r" .. round, { round * 2 } })
      churn(3000)
      s = s + held[3][1]
    end
    return s
  end)
  return held[1], held[2], held[3][1], count, sum
end
print(bottom())

-- 2. debug.setlocal into a frame 3000 levels down.
local function target()
  local victim = "start"
  local level = deep(3000, function()
    local level = 2
    while debug.getinfo(level, "f").func ~= target do
      level = level + 1
    end
    for round = 1, 20 do
      local name = debug.setlocal(level, 1, { "set", round, tostring(round * 3) })
      assert(name == "victim", name)
      churn(3000)
    end
    return level
  end)
  return victim[1], victim[2], victim[3], level > 3000
end
print(target())

-- 3. Every level's own local, set from the top through its own open upvalue.
local setters = {}
local function levels(n)
  local mine = n
  setters[n] = function(v)
    mine = v
  end
  if n == 0 then
    for round = 1, 10 do
      for i = 1, 4000, 7 do
        setters[i]({ i, round, tostring(i) })
      end
      churn(5000)
    end
    return 0
  end
  local below = levels(n - 1)
  local kept = (type(mine) == "table" and mine[1] == n and mine[2] == 10
    and mine[3] == tostring(n)) or mine == n
  return below + (kept and 1 or 0)
end
print(levels(4000))
