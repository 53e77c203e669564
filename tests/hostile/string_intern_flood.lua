-- expect: fuel-or-error "not enough memory"
-- steps: 4000
-- Attacks: millions of distinct short strings kept alive: every one is interned (a weak set
-- that prunes its dead entries and grows as it fills). The memory limit stops the flood.
-- Pruning, growing or tracing the whole set at once took 8-11 ms in one step past 100,000
-- strings; `string::interner` does each a bounded piece per insertion.
local keep = {}
local i = 0
while true do
  i = i + 1
  keep[i] = "s" .. i
end
