-- grants: debug
-- Hooks belong to a thread: set for a coroutine, inherited (mask and count only) by new
-- coroutines, yields, wrap, and hooks that cannot yield.
local function name(co) return co == nil and "main" or "co" end
local log = {}
local function h(ev, line)
  local _, ismain = coroutine.running()
  log[#log + 1] = (ismain and "main" or "co") .. ":" .. ev .. (line and (":" .. line) or "")
end
local function flush(title)
  print(title, table.concat(log, " "))
  log = {}
end

local co = coroutine.create(function(a)
  local b = coroutine.yield(a + 1)
  return b * 2
end)
debug.sethook(co, h, "crl")
print(debug.gethook())
print(select(2, debug.gethook(co)))
print(coroutine.resume(co, 1))
flush("first resume")
print(coroutine.resume(co, 5))
flush("second resume")
print(coroutine.status(co), select(2, debug.gethook(co)))

-- a coroutine created while a hook is set inherits its mask and count, not its function
debug.sethook(h, "l", 3)
local co2 = coroutine.create(function() local x = 1 return x end)
debug.sethook()
flush("creating")
print(debug.gethook(co2))
print(coroutine.resume(co2))
flush("inherited hook runs nothing")
debug.sethook(co2, h, "c")
print(select(2, debug.gethook(co2)))

-- a hook set inside a coroutine stays with it across yields
local w = coroutine.wrap(function()
  debug.sethook(h, "l")
  local y = 1
  coroutine.yield()
  y = 2
  debug.sethook()
  return y
end)
w()
flush("before yield")
print(w())
flush("after yield")

-- the main thread's hook does not see the coroutine's lines
debug.sethook(h, "l")
local w2 = coroutine.wrap(function()
  local q = 1
  q = q + 1
  return q
end)
local r = w2()
debug.sethook()
flush("main only " .. r)

-- hooks cannot yield (PUC runs them across a C boundary) nor see themselves as yieldable
local co3 = coroutine.create(function()
  debug.sethook(function(ev, line)
    log[#log + 1] = tostring(coroutine.isyieldable())
    coroutine.yield(line)
  end, "l")
  local z = 1
  return "done"
end)
print(coroutine.resume(co3))
print(coroutine.status(co3))
flush("yield in hook")

-- a coroutine resumed inside a hook runs its own hook
local inner = coroutine.create(function()
  local k = 1
  k = 2
  return k
end)
debug.sethook(inner, h, "l")
local once = false
debug.sethook(function(ev, line)
  if not once then
    once = true
    log[#log + 1] = "outer:" .. line
    coroutine.resume(inner)
  end
end, "l")
local m = 1
debug.sethook()
flush("nested")
