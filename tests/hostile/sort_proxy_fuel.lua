-- expect: fuel
-- steps: 10
-- Attacks: table.sort of a proxy whose __len says 2^31 - 2 and whose __index is a function:
-- the sort must be paid for element by element (still running at the step cap), not
-- allocate 2^31 slots or run in one step.
local p = setmetatable({}, {
  __len = function() return 2^31 - 2 end,
  __index = function(_, i) return i % 1000 end,
  __newindex = function() end,
})
table.sort(p)
