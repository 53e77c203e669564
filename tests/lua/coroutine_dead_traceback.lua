-- grants: debug
-- A coroutine that died by an error keeps its frames for debug.traceback / debug.getinfo (PUC 5.4.8 output).
local function inner(x)
  error("boom " .. x)
end
local function mid(x)
  inner(x)
  return 1
end
local co = coroutine.create(function(a)
  local y = coroutine.yield(1)
  mid(a + y)
end)
print(coroutine.resume(co, 1))
print(coroutine.resume(co, 2))
print(coroutine.status(co))
print(debug.traceback(co))
print(debug.traceback(co, "msg"))
print(debug.traceback(co, "msg", 1))
print(debug.traceback(co, nil, 2))
print(coroutine.close(co))
print(debug.traceback(co))
print(coroutine.status(co))
-- error with non-string
local co2 = coroutine.create(function() local t = nil; return t.x end)
print(coroutine.resume(co2))
print(debug.traceback(co2))
-- coroutine with a pending tbc
local co3 = coroutine.create(function()
  local x <close> = setmetatable({}, {__close=function() print("closed") end})
  error("e3")
end)
print(coroutine.resume(co3))
print(debug.traceback(co3))
print(coroutine.close(co3))
print(debug.traceback(co3))
-- wrap
local w = coroutine.wrap(function() error("w") end)
print(pcall(w))
-- error inside pcall inside coroutine then error
local co4 = coroutine.create(function()
  pcall(error, "x")
  local function f() error("deep") end
  f()
end)
print(coroutine.resume(co4))
print(debug.traceback(co4))
print(debug.getinfo(co4, 1, "Sl") and debug.getinfo(co4, 1, "Sl").currentline)
print(debug.getinfo(co, 1) )
