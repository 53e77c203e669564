-- expect: fuel-or-error "memory"
-- steps: 100
-- Attacks: a 100 MB source passed to load, through a reader returning the same 1 MB piece
-- 100 times (cheap to produce): load must charge fuel for the source it compiles in
-- proportion to its size, and no step may overrun its budget by more than OVERRUN.
local piece = ("1+"):rep(512 * 1024)
local n = 0
local f = load(function()
  n = n + 1
  if n == 1 then return "return " end
  if n <= 101 then return piece end
  if n == 102 then return "1" end
end)
return f and f()
