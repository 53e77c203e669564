-- Binary trees (benchmarks game): allocation-heavy, GC pressure, recursion.
local function bottom_up_tree(depth)
  if depth > 0 then
    depth = depth - 1
    local left, right = bottom_up_tree(depth), bottom_up_tree(depth)
    return { left, right }
  else
    return {}
  end
end

local function item_check(tree)
  if tree[1] then
    return 1 + item_check(tree[1]) + item_check(tree[2])
  else
    return 1
  end
end

local N = 14
local min_depth = 4
local max_depth = math.max(min_depth + 2, N)
local checksum = 0

do
  local stretch_depth = max_depth + 1
  checksum = checksum + item_check(bottom_up_tree(stretch_depth))
end

local long_lived_tree = bottom_up_tree(max_depth)

for depth = min_depth, max_depth, 2 do
  local iterations = 1 << (max_depth - depth + min_depth)
  local check = 0
  for _ = 1, iterations do
    check = check + item_check(bottom_up_tree(depth))
  end
  checksum = checksum + check * depth
end

checksum = checksum + item_check(long_lived_tree)
print(checksum)
