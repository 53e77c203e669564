-- Weak tables and finalizers at full collections (collectgarbage()).
-- lunette processes __mode and __gc only at full collections (deterministic points);
-- a script-requested collectgarbage() is one, so results match PUC here.
local weak = setmetatable({}, {__mode = "v"})
local keep = {}
weak[1] = {} ; weak[2] = keep ; weak.x = {} ; weak.y = "str"
local wk = setmetatable({}, {__mode = "k"})
wk[{}] = 1 ; wk[keep] = 2
collectgarbage()
print(weak[1], weak[2] == keep, weak.x, weak.y)
local n = 0 for k, v in pairs(wk) do n = n + 1 end
print("weak keys left", n, wk[keep])
local kv = setmetatable({}, {__mode = "kv"})
kv[1] = function() end
kv[keep] = keep
kv[{}] = "gone"
collectgarbage()
n = 0 for k, v in pairs(kv) do n = n + 1 end
print("kv left", n, kv[keep] == keep, kv[1])

-- finalizers run newest first, once, and may resurrect their object
local order = {}
for i = 1, 3 do setmetatable({}, {__gc = function() order[#order + 1] = i end}) end
collectgarbage("collect")
print(#order, order[1], order[2], order[3])
collectgarbage()
print("still", #order)
local resurrected
do local t = setmetatable({name = "zombie"}, {__gc = function(o) resurrected = o end}) end
collectgarbage()
print(resurrected and resurrected.name)
resurrected = nil
collectgarbage()
print("after second collection", resurrected)

-- __gc must be present when setmetatable is called
local late = {}
local mt = {}
setmetatable({}, mt)
mt.__gc = function() late[#late + 1] = "late" end
collectgarbage()
print("late finalizer", #late)

-- an error in a finalizer is ignored
setmetatable({}, {__gc = function() error("in gc") end})
print(collectgarbage())
print("alive")
