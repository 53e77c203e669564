-- math.random / math.randomseed: PUC 5.4's xoshiro256**, reproduced bit for bit
print(math.randomseed(42))
print(math.random(1, 100), math.random(1, 100), math.random(1, 100))

local function line(...)
  local t = {}
  for i = 1, select("#", ...) do t[#t + 1] = tostring((select(i, ...))) end
  print(table.concat(t, " "))
end

for _, seed in ipairs({0, 1, 2, 42, 123456789, -1, -9223372036854775807 - 1, 9223372036854775807}) do
  line("seed", seed, math.randomseed(seed))
  local r = {}
  for i = 1, 6 do r[#r + 1] = math.random(1, 6) end
  for i = 1, 4 do r[#r + 1] = math.random(100) end
  for i = 1, 3 do r[#r + 1] = math.random(-1000, 1000) end
  for i = 1, 3 do r[#r + 1] = math.random(0) end
  for i = 1, 3 do r[#r + 1] = math.tointeger(math.random() * 2^53) end
  r[#r + 1] = math.random(1, 3)
  r[#r + 1] = math.random(0, 2^40)
  r[#r + 1] = math.random(-9223372036854775807 - 1, 9223372036854775807)
  r[#r + 1] = math.random(9223372036854775807)
  r[#r + 1] = math.random(5, 5)
  r[#r + 1] = math.random(-9223372036854775807 - 1, 0)
  line(table.unpack(r))
end

-- two-component seeds
for _, s in ipairs({{1, 2}, {0, 1}, {-5, 7}, {3, 4}}) do
  line("seed2", math.randomseed(s[1], s[2]))
  line(math.random(1, 1000), math.random(1, 1000), math.random(0), math.tointeger(math.random() * 2^53))
end

-- numeric strings and integral floats are accepted as integers
line(math.randomseed("7"))
line(math.random(1, 100), math.random(2.0, 9.0), math.random("10"))
line(math.randomseed(3.0))
line(math.random(50))

-- float results are in [0, 1)
math.randomseed(99)
local ok = true
for i = 1, 1000 do
  local x = math.random()
  if x < 0 or x >= 1 or math.type(x) ~= "float" then ok = false end
end
print("floats ok", ok)

-- ranges are respected and every value appears
math.randomseed(2024)
local seen, bad = {}, false
for i = 1, 2000 do
  local v = math.random(3, 12)
  if v < 3 or v > 12 or math.type(v) ~= "integer" then bad = true end
  seen[v] = true
end
local count = 0
for i = 3, 12 do if seen[i] then count = count + 1 end end
print("range", bad, count)

-- a long sequence digest
math.randomseed(31337)
local acc = 0
for i = 1, 5000 do acc = (acc * 31 + math.random(1, 1000000)) % 1000000007 end
print("digest", acc)

-- errors
local function err(...) print(select(2, pcall(...))) end
err(math.random, 1, 2, 3)
err(math.random, 3, 1)
err(math.random, 0, -1)
err(math.random, 1.5)
err(math.random, 1, 2.5)
err(math.random, "x")
err(math.random, {})
err(math.randomseed, 1.5)
err(math.randomseed, {})
err(math.randomseed, 1, 0.5)
print(pcall(function() return math.random(2, 1) end))
