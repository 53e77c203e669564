-- expect: fuel
-- steps: 40
-- Attacks: weak tables churned forever (keys, values, ephemerons whose values reference
-- their keys, finalizable keys): memory must stay bounded by the collector, fuel-bounded.
local wk = setmetatable({}, {__mode = "k"})
local wv = setmetatable({}, {__mode = "v"})
local i = 0
while true do
  i = i + 1
  local k = {}
  wk[k] = {k}
  wv[i % 1000] = {}
  if i % 100 == 0 then setmetatable({}, {__gc = function() wk[{}] = 1 end}) end
end
