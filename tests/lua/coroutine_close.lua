-- coroutine.close after an error, and to-be-closed variables of a coroutine that died by
-- an error: they are closed by coroutine.close (or coroutine.wrap), not when it dies (issue #11)
local function closer(name)
  return setmetatable({}, {__close = function(_, e) print("close " .. name, e) end})
end

local co = coroutine.create(function() error("boom") end)
print(coroutine.resume(co))
print(coroutine.close(co))
print(coroutine.close(co))
print(coroutine.status(co), coroutine.resume(co))

local co2 = coroutine.create(function()
  local a <close> = closer("a")
  local b <close> = closer("b")
  error("E2")
end)
print(coroutine.resume(co2))
print("after resume, status", coroutine.status(co2))
print(coroutine.close(co2))
print(coroutine.close(co2))

-- a handler that raises replaces the error; the others still run and see the new one
local co3 = coroutine.create(function()
  local a <close> = closer("a")
  local b <close> = setmetatable({}, {__close = function(_, e) error("in close: " .. tostring(e), 0) end})
  local c <close> = closer("c")
  error("orig", 0)
end)
print(coroutine.resume(co3))
print(coroutine.close(co3))
print(coroutine.close(co3))

-- non-string error values reach the handlers and close's result
local co4 = coroutine.create(function()
  local a <close> = setmetatable({}, {__close = function(_, e) print("close sees", type(e), e.code) end})
  error({code = 7})
end)
local ok, e = coroutine.resume(co4)
print(ok, type(e), e.code)
local ok2, e2 = coroutine.close(co4)
print(ok2, e2 == e)

-- coroutine.wrap closes the dead coroutine before propagating the error
local w = coroutine.wrap(function()
  local a <close> = closer("w")
  error("werr")
end)
print(pcall(w))
print(pcall(w))
local w2 = coroutine.wrap(function()
  local a <close> = setmetatable({}, {__close = function() error("from close") end})
  error("werr2")
end)
print(pcall(w2))

-- suspended coroutines: handlers see nil
local co5 = coroutine.create(function()
  local a <close> = closer("s")
  coroutine.yield(1)
end)
print(coroutine.resume(co5))
print(coroutine.close(co5))
print(coroutine.close(co5), coroutine.status(co5))

-- a normally finished coroutine
local co6 = coroutine.create(function() local a <close> = closer("n") return 1 end)
print(coroutine.resume(co6))
print(coroutine.close(co6), coroutine.close(co6))

-- errors caught inside the coroutine still close on the way out
local co7 = coroutine.create(function()
  print(pcall(function() local a <close> = closer("inner") error("caught", 0) end))
  error("later", 0)
end)
print(coroutine.resume(co7))
print(coroutine.close(co7))
