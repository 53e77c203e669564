-- Error messages quoting long names (longer than the VM joins in one step): the message
-- is the same whole, wherever it is caught, and with the same position.
local N = 300000
local name = string.rep("n", N - 1) .. "!"
local function show(e)
  if type(e) ~= "string" then return type(e) end
  return #e .. " " .. e:sub(1, 40) .. " ... " .. e:sub(-40)
end
local function try(f, ...)
  local ok, e = pcall(f, ...)
  print(ok, show(e))
end

local t = setmetatable({}, {__name = name})
try(function() return t() end)
try(function() return t + 1 end)
try(function() return t < t end)
try(function() return t < 1 end)
try(function() return #t end)
try(function() return t .. "x" end)
try(function() return t.x.y end)
try(function() local u = t; return u.x end)
try(function() return ipairs() end)
try(string.rep, t)
try(function() return ("x"):rep(t) end)
try(function() return math.floor(t) end)
-- a global, a field and a method named by a long identifier
local id = string.rep("g", N)
local f = load("return " .. id .. "()")
try(f)
f = load("local t = {} return t." .. id .. "()")
try(f)
f = load("local t = {} return t:" .. id .. "()")
try(f)
f = load("return (" .. id .. " or 1) + {}")
try(f)
f = load("local s = 'x' return s:rep({})")
try(f)
f = load("local " .. id .. " = {} return " .. id .. ".x.y")
try(f)
f = load("local " .. id .. " <close> = 42")
try(f)
-- a method whose self is bad, named by a long identifier
_G[id] = string.rep
f = load("return " .. id .. "({})")
try(f)
f = load("local s = {" .. id .. " = string.rep} return s:" .. id .. "(1)")
try(f)
_G[id] = nil
-- xpcall's handler sees the whole message, and a traceback can follow it
print(xpcall(function() return t() end, function(m) return show(m) end))
print(select(2, xpcall(function() return t() end, debug.traceback)):sub(-60) ~= nil)
-- in a coroutine: the error kills it with the whole message
local co = coroutine.create(function() return t() end)
local ok, e = coroutine.resume(co)
print(ok, show(e), coroutine.status(co))
print(pcall(coroutine.wrap(function() return #t end)))
-- coroutine.wrap puts its caller's position in front of the whole message, at each level
ok, e = pcall(coroutine.wrap(function() return t() end))
print(ok, show(e))
local inner = coroutine.wrap(function() return t() end)
ok, e = pcall(coroutine.wrap(function() return inner() end))
print(ok, show(e))
local w = coroutine.wrap(ipairs)
ok, e = pcall(w)
print(ok, show(e))
-- to-be-closed variables see the whole message
do
  local seen
  local ok, e = pcall(function()
    local x <close> = setmetatable({}, {__close = function(_, err) seen = err end})
    return t()
  end)
  print(ok, show(e), seen == e)
end
-- non-UTF-8 bytes are quoted as they are
local bytes = "\xff\xfe" .. string.rep("\xc3", N)
local b = setmetatable({}, {__name = bytes})
ok, e = pcall(function() return b() end)
print(ok, #e, e:find(bytes, 1, true) ~= nil)
-- names are quoted as C strings: up to a zero byte (lunette quotes a name longer than
-- 256 KiB whole: it does not scan it in the step that raises the error)
f = load("local t = {} return t['ab\\0cd']()")
print(pcall(f))
local z = setmetatable({}, {__name = "zz\0" .. name:sub(1, 200000)})
print(pcall(function() return z < z end))
print(pcall(string.rep, z))
print("done")
