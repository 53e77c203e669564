-- table.sort: results, comparators, comparison order, errors, yields
local function dump(t, n)
  local out = {}
  for i = 1, n or #t do out[#out + 1] = tostring(t[i]) end
  return table.concat(out, " ")
end

local t = {5, 3, 8, 1, 9, 2, 7}
table.sort(t)
print(dump(t))
table.sort(t, function(a, b) return a > b end)
print(dump(t))
t = {"pear", "apple", "fig", "banana", "Apple", ""}
table.sort(t)
print(dump(t))
t = {3.5, -1, 2, 2.0, 1e300, -1/0, 1/0, 0}
table.sort(t)
print(dump(t))
t = {1, 1.0, 1, 1.0, 0.0, -0.0, 0}
table.sort(t)
print(dump(t))
t = {}
table.sort(t)
print(#t)
t = {42}
table.sort(t, 3)
print(dump(t))

-- deterministic pseudo-random data (no math.random dependence)
local seed = 12345
local function rnd(n)
  seed = (seed * 1103515245 + 12345) % 2147483648
  return seed % n
end
local big = {}
for i = 1, 500 do big[i] = rnd(1000) end
table.sort(big)
local ok = true
for i = 2, #big do if big[i - 1] > big[i] then ok = false end end
print("sorted 500", ok, big[1], big[250], big[500])

local comps = 0
local data = {}
for i = 1, 300 do data[i] = rnd(100) end
table.sort(data, function(a, b) comps = comps + 1; return a < b end)
print("comparisons", comps)

-- the exact sequence of comparator calls matches PUC's quicksort
local log = {}
t = {4, 1, 3, 5, 2, 6, 0}
table.sort(t, function(a, b) log[#log + 1] = a .. "<" .. b; return a < b end)
print(dump(t))
print(table.concat(log, " "))

-- stability is not guaranteed, but the permutation is PUC's
local recs = {}
for i = 1, 40 do recs[i] = {k = i % 4, id = i} end
table.sort(recs, function(a, b) return a.k < b.k end)
local ids = {}
for i = 1, #recs do ids[i] = recs[i].id end
print(table.concat(ids, ","))

-- sorting by __lt
local mt = {__lt = function(a, b) return a.v < b.v end}
local objs = {}
for i, v in ipairs({5, 2, 9, 1, 7}) do objs[i] = setmetatable({v = v}, mt) end
table.sort(objs)
local vs = {}
for i = 1, #objs do vs[i] = objs[i].v end
print(table.concat(vs, " "))

-- errors
local function err(...) print(select(2, pcall(...))) end
err(table.sort, {3, 1, "x"})
err(table.sort, {3, "x", 1})
err(table.sort, {"x", 3, 1, 2})
err(table.sort, {1, {}, 2})
err(table.sort, {{}, {}})
err(table.sort, {1, 2, nil, 4}, 3)
err(table.sort, {1, 2, 3}, 3)
err(table.sort, {1, 2, 3}, {})
err(table.sort)
err(table.sort, "abc")
err(table.sort, {1, 2, 3, 4, 5}, function(a, b) return true end)
print(pcall(function() table.sort({5, 4, 3, 2, 1, 0}, function(a, b) return true end) end))
err(table.sort, {1, 2, 3}, function(a, b) error("boom") end)
print(type(select(2, pcall(table.sort, {1, 2, 3}, function(a, b) error({}) end))))
err(table.sort, setmetatable({}, {__len = function() return 2^31 end}))
err(table.sort, {1, 0/0, 2, 0/0, 3, 4, 5, 6, 7, 8, 9, 10})

-- inconsistent comparators never hang
for n = 2, 40 do
  local arr = {}
  for i = 1, n do arr[i] = rnd(10) end
  local okk = pcall(table.sort, arr, function(a, b) return rnd(2) == 0 end)
  if n % 10 == 0 then print("random comparator", n, okk) end
end
local alt = {}
for i = 1, 50 do alt[i] = i end
print(pcall(table.sort, alt, function(a, b) return a <= b end))

-- the comparator sees the table being sorted
local seen = {3, 2, 1}
table.sort(seen, function(a, b) return a < b end)
print(dump(seen))

-- sort a table with integer and float keys that mix
local mix = {3, 2.5, 1, 2, 0.5}
table.sort(mix)
print(dump(mix))
table.sort(mix, function(a, b) return a > b end)
print(dump(mix))
