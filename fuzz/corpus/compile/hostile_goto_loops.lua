-- expect: fuel
-- steps: 50
-- Attacks: an infinite goto loop (backward jump with no loop construct) and a loop of
-- gotos that keep closing to-be-closed variables: must be fuel-bounded and memory-flat.
local n = 0
::top::
do
  local x <close> = setmetatable({}, {__close = function() n = n + 1 end})
  if n >= 0 then goto top end
end
