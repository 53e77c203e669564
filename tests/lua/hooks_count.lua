-- grants: debug
-- Count hooks, alone and with line hooks; debug.gethook; turning hooks off.
local n = 0
local function counter() n = n + 1 end
local function work()
  local x = 0
  for i = 1, 100 do x = x + i end
  return x
end
for _, c in ipairs({1, 2, 3, 7, 50, 1000}) do
  n = 0
  debug.sethook(counter, "", c)
  work()
  debug.sethook()
  print("count", c, n)
end

-- the hook's own instructions are counted too (but call no hook)
local function busy() n = n + 1; local a = 1; local b = 2 end
for _, c in ipairs({2, 3, 4}) do
  n = 0
  debug.sethook(busy, "", c)
  work()
  debug.sethook()
  print("busy", c, n)
end

-- count and line together: the count event first, then the line event
local events = {}
debug.sethook(function(ev, line) events[#events + 1] = ev .. (line and (":" .. line) or "") end, "l", 2)
local a = 1
local b = a + 1
local c = b * 2
debug.sethook()
print(table.concat(events, " "))

-- gethook
print(debug.gethook())
local function hk() end
debug.sethook(hk, "crl", 5)
local f, mask, count = debug.gethook()
debug.sethook()
print(f == hk, mask, count)
debug.sethook(hk, "lrc")
print(select(2, debug.gethook()))
debug.sethook(hk, "", 0)
print(debug.gethook())
debug.sethook(hk, "", 3)
print(select(2, debug.gethook()))
debug.sethook(hk, "x", -4)
print(debug.gethook())
debug.sethook(hk, "l", -4)
print(select(2, debug.gethook()))
debug.sethook()
print(debug.gethook())
print(pcall(debug.sethook, hk))
print(pcall(debug.sethook, 1, "l"))

-- a hook that turns itself off
local seen = 0
debug.sethook(function()
  seen = seen + 1
  if seen == 3 then debug.sethook() end
end, "l")
local d = 1
d = 2
d = 3
d = 4
print("self off", seen, debug.gethook())

-- a hook replaced from inside a hook
local log = {}
local function second(ev, line) log[#log + 1] = "second:" .. line end
debug.sethook(function(ev, line)
  log[#log + 1] = "first:" .. line
  debug.sethook(second, "l")
end, "l")
local e = 1
e = 2
debug.sethook()
print(table.concat(log, " "))
