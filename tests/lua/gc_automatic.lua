-- Collections happen on their own: a program may wait for the collector.
local function garbage() local t = {} for i = 1, 100 do t[i] = {i} end return t end

local x = setmetatable({{}}, {__mode = "kv"})
local n = 0
while x[1] do garbage() n = n + 1 end
print("weak entry cleared", n > 0)

local finalized = false
do setmetatable({}, {__gc = function() finalized = true end}) end
while not finalized do garbage() end
print("finalized")

-- Stopped: nothing is collected however much is allocated.
collectgarbage("stop")
print("running", collectgarbage("isrunning"))
local y = setmetatable({{}}, {__mode = "v"})
for _ = 1, 3000 do garbage() end
print("kept while stopped", y[1] ~= nil)
collectgarbage("restart")
print("running", collectgarbage("isrunning"))
while y[1] do garbage() end
print("cleared after restart")

-- A weak cache stays bounded.
local cache = setmetatable({}, {__mode = "v"})
local biggest = 0
for i = 1, 20000 do
  cache[i] = {i}
  if i % 1000 == 0 then
    local live = 0
    for _ in pairs(cache) do live = live + 1 end
    if live > biggest then biggest = live end
  end
end
print("cache bounded", biggest < 20000)
