-- expect: fuel-or-error "not enough memory"
-- steps: 30
-- Attacks: unbounded table growth (memory grows only as fast as fuel allows): the memory
-- limit stops it, and the runner's RSS check bounds what was allocated.
local t = {}
while true do t[#t + 1] = {} end
