-- grants: debug
-- Hooks that raise errors: caught by pcall below the hooked code, hooks on again after,
-- tracebacks through a hook, errors in call and return hooks of Rust functions.
local n = 0
local function h(ev, line)
  n = n + 1
  if n == 3 then error("boom at " .. line) end
end
local function f()
  local a = 1
  local b = 2
  local c = 3
  return a + b + c
end
debug.sethook(h, "l")
print(pcall(f))
debug.sethook()
print(n)

-- error with a table value, traceback from the message handler
print(xpcall(function()
  debug.sethook(function(e, l) if l == 24 then error({}) end end, "l")
  local q = 1
  local r = 2
end, function(m) debug.sethook() return type(m) .. "\n" .. debug.traceback() end))

-- an error in the call hook of a Rust function: the function does not run
local ran = false
local mark = setmetatable({}, {__index = function() ran = true end})
debug.sethook(function(ev)
  if ev == "call" and debug.getinfo(2, "n").name == "rawget" then
    debug.sethook()
    error("no call")
  end
end, "c")
print(pcall(function() local r = rawget(mark, 1) return r end))
print(ran, debug.gethook())

-- an error in a return hook: the results are lost
debug.sethook(function(ev)
  if ev == "return" then
    local info = debug.getinfo(2, "n")
    if info.name == "twice" then
      debug.sethook()
      error("no return")
    end
  end
end, "r")
local function twice(x) return x * 2 end
print(pcall(function() local r = twice(4) return r end))

-- a coroutine killed by its hook keeps its frames for its traceback
local co = coroutine.create(function()
  local lines = 0
  debug.sethook(function(e, l)
    lines = lines + 1
    if lines == 2 then error("stop at " .. l) end
  end, "l")
  local s = 1
  s = s + 1
  return s
end)
print(coroutine.resume(co))
print(coroutine.status(co))
print(debug.traceback(co))

-- the hook runs again after an error it raised was caught
local count = 0
debug.sethook(function(e, l)
  count = count + 1
  if count % 2 == 0 then error("even") end
end, "l")
local ok1 = pcall(function() local x = 1 end)
local ok2 = pcall(function() local x = 1 end)
debug.sethook()
print(ok1, ok2, count)

-- an error raised inside the hook and caught inside the hook
local inner = {}
debug.sethook(function(e, l)
  local ok, err = pcall(error, "inside")
  inner[#inner + 1] = tostring(ok) .. ":" .. err .. ":" .. l
end, "l")
local t = 1
debug.sethook()
print(table.concat(inner, " "))

-- a hook that is a Rust function
debug.sethook(print, "l")
local u = 1
debug.sethook()
debug.sethook(print, "cr")
local v = rawlen({})
debug.sethook()
