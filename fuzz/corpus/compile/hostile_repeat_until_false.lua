-- expect: fuel
-- steps: 20
-- Attacks: `repeat until false`: the loop's back edge is the Jmp that follows a Test
-- instruction. The interpreter used to take that Jmp inline (cond_jump! in interp.rs)
-- without the fuel check a plain backward Jmp has, so the step never returned (a hang,
-- found by this suite; fixed).
local x = 1
repeat until false
