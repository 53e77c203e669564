-- expect: fuel
-- steps: 20
-- Attacks: `repeat until false`: the loop's back edge is the Jmp that follows a Test
-- instruction. The interpreter takes that Jmp inline (cond_jump! in interp.rs) without the
-- fuel check a plain backward Jmp has, so the loop never returns from the step: a hang.
local x = 1
repeat until false
