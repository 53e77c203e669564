-- expect: fuel-or-error "not enough memory"
-- steps: 4000
-- Attacks: millions of distinct short strings kept alive: every one is interned (a weak set
-- that prunes its dead entries and grows as it fills). Pruning or growing the whole set at
-- once took 8-11 ms in one step past 100,000 strings; the set is split in shards that prune
-- and grow on their own. The memory limit stops the flood.
local keep = {}
local i = 0
while true do
  i = i + 1
  keep[i] = "s" .. i
end
