-- expect: fuel
-- steps: 100
-- Attacks: a __gc finalizer that never returns (infinite loop) and finalizers that create
-- more finalizable garbage forever. Whenever they run, they must be fuel-bounded like any
-- other Lua code; the main chunk also spins forever, churning garbage.
local function arm()
  setmetatable({}, {__gc = function()
    arm(); arm()
    local n = 0
    while true do n = n + 1 end
  end})
end
for i = 1, 100 do arm() end
while true do local t = {{}, {}, {}} end
