-- expect: fuel
-- steps: 20
-- Attacks: a backward conditional jump from an Lt-with-immediate instruction (the
-- repeat-until condition): taken inline without a fuel check, a hang.
local x, y = 1, nil
repeat until x < 0
