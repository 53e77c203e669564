-- Hash-table heavy with string keys: inserts, lookups, updates, pairs traversal.
local checksum = 0
for round = 1, 4 do
  local counts = {}
  local keys = {}
  for i = 1, 50000 do
    keys[i] = "key" .. (i * 7919 % 50000)
  end
  for rep = 1, 3 do
    for i = 1, #keys do
      local k = keys[i]
      counts[k] = (counts[k] or 0) + rep
    end
  end
  local n, sum = 0, 0
  for k, v in pairs(counts) do
    n = n + 1
    sum = sum + v + #k
  end
  -- Lookups of present and absent keys.
  local hits = 0
  for i = 1, 50000 do
    if counts["key" .. i] then hits = hits + 1 end
  end
  -- Delete half the keys.
  for i = 1, #keys, 2 do counts[keys[i]] = nil end
  local left = 0
  for _ in pairs(counts) do left = left + 1 end
  checksum = checksum + n + sum + hits + left + round
end
print(checksum)
