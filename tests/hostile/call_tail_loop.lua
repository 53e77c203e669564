-- expect: fuel
-- steps: 40
-- Attacks: a __call metamethod that tail-calls its own object forever (no stack growth,
-- as in PUC): an infinite loop that must stay fuel-bounded, with memory flat.
local c = setmetatable({}, {__call = function(self, n) return self(n + 1) end})
return c(1)
