-- table.sort with a Lua comparator on records; plus default-order sort of numbers.
local seed = 42
local function rand(n)
  seed = (seed * 1103515245 + 12345) % 2147483648
  return seed % n
end

local checksum = 0
for round = 1, 4 do
  local recs = {}
  for i = 1, 20000 do
    recs[i] = { key = rand(1000), id = i }
  end
  table.sort(recs, function(a, b)
    if a.key ~= b.key then return a.key < b.key end
    return a.id > b.id
  end)
  for i = 1, #recs, 97 do
    checksum = checksum + recs[i].id * i % 1000003
  end

  local nums = {}
  for i = 1, 30000 do nums[i] = rand(1000000) end
  table.sort(nums)
  for i = 1, #nums, 101 do checksum = checksum + nums[i] % 1009 end
  checksum = checksum + round
end
print(checksum)
