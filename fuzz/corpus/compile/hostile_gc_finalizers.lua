-- expect: ok
-- steps: 600
-- Attacks: __gc finalizers that allocate, error, resurrect their object, set new
-- finalizers, and loop forever; plus collectgarbage option abuse. In the sandbox scripts
-- cannot force full collections, so churn allocations to let the collector run.
local resurrected = {}
local count = 0
for i = 1, 2000 do
  setmetatable({}, {__gc = function(o)
    count = count + 1
    local t = {}
    for j = 1, 20 do t[j] = {j} end           -- allocates
    resurrected[#resurrected % 50 + 1] = o    -- resurrects
    setmetatable(o, getmetatable(o))          -- re-arms (not again in 5.4)
  end})
  setmetatable({}, {__gc = function() error("in __gc " .. i) end})
  setmetatable({}, {__gc = function() error(setmetatable({}, {__tostring = function() error("x") end})) end})
  setmetatable({}, {__gc = "not a function"})
  setmetatable({}, {__gc = setmetatable({}, {__call = function() end})})
end
-- churn to give the collector work
for i = 1, 20000 do local x = {i, tostring(i)} end
for _, opt in ipairs{"collect", "stop", "restart", "count", "step", "isrunning", "incremental", "generational"} do
  local ok = pcall(collectgarbage, opt)
  assert(ok, opt)
end
assert(not pcall(collectgarbage, "bogus"))
assert(pcall(collectgarbage, "step", math.maxinteger))
assert(pcall(collectgarbage, "step", -1))
assert(pcall(collectgarbage, "incremental", math.maxinteger, math.mininteger, 0))
collectgarbage("restart")
