-- expect: fuel
-- steps: 20
-- Attacks: a backward conditional jump from an Lt-with-immediate instruction (the
-- repeat-until condition): used to be taken inline without a fuel check, a hang (fixed).
local x, y = 1, nil
repeat until x < 0
