-- PUC's luaL_checkoption: options compared and quoted as C strings (up to a zero byte),
-- an option of any length quoted whole in the message (lunette: without a copy).
print(pcall(collectgarbage, "nope"))
print(type(select(2, pcall(collectgarbage, "count\0x"))))
local big = ("o"):rep(300000)
local ok, e = pcall(collectgarbage, big) print(ok, #e, e:sub(1, 50), e:sub(-10))
ok, e = pcall(function() return collectgarbage(big .. "!") end) print(ok, #e, e:sub(1, 60), e:sub(-10))
print(pcall(function() local x = collectgarbage("nope") end))
print(select("#", collectgarbage("count")) , type(collectgarbage("count")))
