-- expect: fuel
-- steps: 20
-- Attacks: a while loop whose body is an if with an empty branch: the comparison's jump is
-- redirected straight to the loop start (a backward conditional jump), which used to be
-- taken inline without a fuel check: a hang. Found by the mutation fuzzer (from a weak-table
-- churn seed); fixed.
local x = 1
while true do if x == 0 then end end
