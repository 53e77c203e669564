-- collectgarbage options other than "collect"/"count" (issue #11). The initial mode is not
-- printed (lua.c switches PUC to generational; lunette starts incremental like
-- luaL_newstate), nor the result of small incremental steps (PUC's depends on where its
-- collector is in its cycle).
collectgarbage("generational")
print(collectgarbage("incremental"), collectgarbage("incremental"), collectgarbage("generational"))
print(collectgarbage("generational"), collectgarbage("incremental"))
-- generational steps never report the end of a cycle; a huge incremental step does
collectgarbage("generational")
print(collectgarbage("step"), collectgarbage("step", 0), collectgarbage("step", 10), collectgarbage("step", -1))
collectgarbage("incremental")
print(collectgarbage("step", 1000000))
print(collectgarbage("step", -5))
local n = 0
repeat n = n + 1 until collectgarbage("step") or n > 100000
print("a cycle ends", n <= 100000)
-- arguments and previous values: PUC keeps a quarter of the value in a byte
print(collectgarbage("incremental", 100, 200, 10), collectgarbage("generational", 20, 100))
print(collectgarbage("setpause", 150), collectgarbage("setpause", 101), collectgarbage("setpause"), collectgarbage("setpause", 200))
print(collectgarbage("setstepmul", 300), collectgarbage("setstepmul"), collectgarbage("setstepmul", 100))
print(collectgarbage("incremental", 0, 0, 0), collectgarbage("setpause"), collectgarbage("setstepmul"))
print(collectgarbage("setpause", -4), collectgarbage("setpause", 0))
print(collectgarbage("setpause", 1e9 // 1))
print(collectgarbage("setpause", 2000), collectgarbage("setpause", 3), collectgarbage("setpause", 200))
print(collectgarbage("setstepmul", 100))
-- stop / restart / isrunning
print(collectgarbage("isrunning"))
print(collectgarbage("stop"), collectgarbage("isrunning"), collectgarbage("isrunning"))
print(collectgarbage("restart"), collectgarbage("isrunning"))
print(collectgarbage("stop"), collectgarbage("collect"), collectgarbage("isrunning"), collectgarbage("restart"))
print(collectgarbage(), collectgarbage("collect"), math.type(collectgarbage("count")))
-- errors
print(pcall(collectgarbage, "bogus"))
print(pcall(collectgarbage, "step", "x"))
print(pcall(collectgarbage, "setpause", 1.5))
print(pcall(collectgarbage, "incremental", 1, {}))
print(pcall(collectgarbage, "generational", nil, "2"))
print(pcall(collectgarbage, 1))
print(pcall(collectgarbage, {}))
