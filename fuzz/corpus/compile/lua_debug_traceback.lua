-- debug.traceback: the part of the debug library a sandbox gets.

local function lvl3(msg, level) return debug.traceback(msg, level) end
local function lvl2(msg, level) local r = lvl3(msg, level) return r end
function lvl1(msg, level) local r = lvl2(msg, level) return r end

print(debug.traceback())
print(debug.traceback("message"))
print(debug.traceback("message", 1))
print(debug.traceback("message", 2))
print(debug.traceback("message", 0))
print(debug.traceback("message", 50))
print(lvl1("deep"))
print(lvl1("deep", 2))
print(lvl1("deep", 3))
print(lvl1(nil, 1))
print(debug.traceback(42))
print(debug.traceback(4.5, 1))
print(debug.traceback("", 1))

-- non-string messages come back untouched
local t = {}
print(debug.traceback(t) == t, debug.traceback(true), debug.traceback(print) == print)

-- inside pcall and a tail call
print(pcall(debug.traceback, "in pcall"))
local function tail() return debug.traceback("tail") end
local function caller() return tail() end
print(caller())

-- methods and fields
local obj = {}
function obj:m() return debug.traceback("method") end
function obj.f() return debug.traceback("field") end
print(obj:m())
print(obj.f())

-- coroutines
local co = coroutine.create(function(a)
  local function inner() coroutine.yield(debug.traceback("inside")) end
  inner()
  coroutine.yield()
end)
print(coroutine.resume(co))
print(debug.traceback(co))
print(debug.traceback(co, "msg"))
print(debug.traceback(co, "msg", 1))
print(debug.traceback(co, nil, 2))
print(coroutine.resume(co))
print(debug.traceback(co))
print(coroutine.resume(co))
print(debug.traceback(co))
print(debug.traceback(coroutine.create(print)))
print(debug.traceback(coroutine.create(print), "fresh"))
