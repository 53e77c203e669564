-- expect: fuel
-- steps: 60
-- Attacks: unbounded table growth (memory grows only as fast as fuel allows): the runner's
-- RSS check bounds what 6M units of fuel may allocate.
local t = {}
while true do t[#t + 1] = {} end
