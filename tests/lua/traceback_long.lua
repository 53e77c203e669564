-- Long tracebacks show their first 10 and last 11 levels, like luaL_traceback.
local function f(n)
  if n == 0 then return debug.traceback("deep", 1) end
  return (f(n - 1))
end
print(f(30))
print(f(12))
print(f(11))
print(f(10))
local function g(n)
  if n == 0 then error("boom") end
  return (g(n - 1))
end
print(xpcall(g, debug.traceback, 40))
local co = coroutine.create(function() return f(25) end)
print(coroutine.resume(co))
