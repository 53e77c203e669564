-- Frames deep in a recursion hold the only references to some objects (a message
-- handler, a sort's state and comparator, a coroutine's pending pcall) while the
-- collector runs many cycles above them: everything they hold must survive.

local function churn(n)
  -- Garbage enough for several collector cycles.
  local keep = {}
  for i = 1, n do
    keep[i % 512 + 1] = { i, tostring(i) }
  end
  collectgarbage()
  return #keep
end

local function deep(n, at_bottom)
  if n == 0 then
    return at_bottom()
  end
  local r = deep(n - 1, at_bottom)
  return r
end

-- 1. xpcall at the bottom; its handler (a fresh closure) is held by its frame only.
local function make_handler(tag)
  local seen = {}
  return function(m)
    seen[#seen + 1] = m
    return tag .. ": " .. tostring(m):gsub("^.-:%d+: ", "") .. " (" .. #seen .. ")"
  end
end
local ok, msg = xpcall(deep, make_handler("handled"), 3000, function()
  churn(60000)
  error("boom")
end)
print(ok, msg)

-- 2. table.sort at the bottom of one recursion, its comparator recursing again.
local t = {}
for i = 1, 200 do t[i] = (i * 7919) % 211 end
local calls = 0
table.sort(t, function(a, b)
  calls = calls + 1
  if calls % 50 == 0 then
    return deep(2500, function()
      churn(4000)
      return a < b
    end)
  end
  return a < b
end)
local sorted = true
for i = 2, #t do
  if t[i - 1] > t[i] then sorted = false end
end
print("sorted", sorted, t[1], t[#t])

-- 3. A coroutine suspended 4000 calls deep, under a pcall whose body closure is fresh.
local co = coroutine.create(function()
  local inner = function()
    return deep(4000, function()
      local got = coroutine.yield("deep")
      error({ code = got })
    end)
  end
  local ok2, e = pcall(inner)
  return ok2, type(e) == "table" and e.code
end)
print(coroutine.resume(co))
churn(80000)
print(coroutine.resume(co, 42))

-- 4. Unwinding a deep recursion that allocates on the way back.
local function build(n)
  if n == 0 then return {} end
  local below = build(n - 1)
  if n % 1000 == 0 then churn(10000) end
  return { below, n }
end
local tree = build(6000)
local depth, node = 0, tree
while node[1] do depth = depth + 1; node = node[1] end
print("depth", depth, tree[2])
