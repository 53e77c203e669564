-- collectgarbage("step") in incremental mode, as PUC 5.4.8 answers for a small heap: a
-- basic step covers the whole heap and finishes a cycle; a step of n KiB first uses up the
-- credit left before the next automatic cycle (issue #11). (How many steps a big heap takes
-- depends on each collector's work units: only that a cycle ends is printed.)
collectgarbage("incremental")
print(collectgarbage("step"), collectgarbage("step", 0), collectgarbage("step", 1), collectgarbage("step", -1))
collectgarbage()
print(collectgarbage("step"), collectgarbage("step", 10), collectgarbage("step", 100))
print(collectgarbage("step", 100000))
local t = {}
for i = 1, 1000 do t[i] = {i} end
print(collectgarbage("step", 1), collectgarbage("step"))
local keep = {}
for i = 1, 40000 do keep[i] = {i, tostring(i)} end
local n = 0
repeat n = n + 1 until collectgarbage("step") or n > 1000
print("a cycle ends", n > 1 and n <= 1000)
collectgarbage("setstepmul", 0)
n = 0
repeat n = n + 1 until collectgarbage("step") or n > 100000
print("with stepmul 0, later", n > 20 and n <= 100000)
collectgarbage("setstepmul", 100)
keep = nil
collectgarbage()
-- a step of n KiB with the collector stopped
collectgarbage("stop")
print(collectgarbage("step", 1), collectgarbage("step"), collectgarbage("isrunning"))
collectgarbage("restart")
-- generational steps never report the end of a cycle
collectgarbage("generational")
print(collectgarbage("step"), collectgarbage("step", 100000))
collectgarbage("incremental")
print(collectgarbage("step"))
