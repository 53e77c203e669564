-- expect: fuel
-- steps: 100
-- Attacks: xpcall whose message handler recurses forever. Each handler error re-enters the
-- handler (up to 200 times) before "error in error handling", and each re-entry recurses to
-- the frame limit, so this one xpcall costs ~130M fuel units (PUC: 0.1 s). It must be paid
-- for step by step (still running at the step cap), never run inside one step.
local function h(m) return h(m) .. "" end
return xpcall(error, h, "x")
