-- expect: fuel-or-error "memory"
-- steps: 60
-- Attacks: creating millions of coroutines (kept alive) and suspended coroutines holding
-- stacks. Must be paid for with fuel (still running at the step cap, memory bounded by what
-- the fuel allowed).
local keep = {}
local i = 0
while true do
  i = i + 1
  local co = coroutine.create(function(...) coroutine.yield(...) end)
  coroutine.resume(co, i, i, i)
  keep[i] = co
end
