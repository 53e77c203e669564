-- Coroutine ping-pong: resume/yield passing values back and forth, generators.
local function producer(n)
  return coroutine.create(function()
    for i = 1, n do
      coroutine.yield(i)
    end
    return nil
  end)
end

local function ping_pong(n)
  local pong = coroutine.create(function(x)
    while true do
      x = coroutine.yield(x * 2 % 1000003)
    end
  end)
  local sum = 0
  local v = 1
  for _ = 1, n do
    local _, r = coroutine.resume(pong, v)
    sum = sum + r
    v = r + 1
  end
  return sum
end

local checksum = 0
checksum = checksum + ping_pong(800000)

for _ = 1, 60 do
  local co = producer(5000)
  while true do
    local _, v = coroutine.resume(co)
    if v == nil then break end
    checksum = checksum + v
  end
end

-- Many short-lived coroutines.
for i = 1, 60000 do
  local co = coroutine.create(function(a, b)
    local c = coroutine.yield(a + b)
    return c * 2
  end)
  local _, x = coroutine.resume(co, i, 1)
  local _, y = coroutine.resume(co, x)
  checksum = checksum + y
end
print(checksum)
