-- The comparisons table.sort makes (and their order) are PUC's: a comparator that logs its
-- calls sees the same sequence, for sizes around the small-interval cases, duplicates,
-- already sorted and reversed inputs, and a partition with many equal keys.
local function run(name, t)
  local log = {}
  table.sort(t, function(a, b)
    log[#log + 1] = a .. "<" .. b
    return a < b
  end)
  print(name, #log, table.concat(log, " "))
  print(name, table.concat(t, ","))
end

local seed = 7
local function rand(n)
  seed = (seed * 1103515245 + 12345) % 2147483648
  return seed % n
end

for n = 1, 9 do
  local t = {}
  for i = 1, n do t[i] = rand(10) end
  run("rand" .. n, t)
end
local t = {}
for i = 1, 40 do t[i] = rand(5) end
run("dups", t)
t = {}
for i = 1, 30 do t[i] = i end
run("sorted", t)
t = {}
for i = 1, 30 do t[i] = 31 - i end
run("reversed", t)
t = {}
for i = 1, 150 do t[i] = rand(1000) end
run("big", t)

-- An inconsistent order function: the same error, after the same comparisons.
local calls = 0
local ok, err = pcall(table.sort, {5, 1, 4, 2, 3, 9, 8, 7, 6}, function(a, b)
  calls = calls + 1
  return true
end)
print(ok, err, calls)
