-- to-be-closed variables and <const>

local function closer(name)
  return setmetatable({name = name}, {__close = function(o, err)
    if type(err) == "table" then err = "<table>" end
    print("close", o.name, err)
  end})
end

print("== normal block exit, reverse order")
do
  local a <close> = closer("a")
  local b <close> = closer("b")
  local c <close> = closer("c")
  print("body")
end
print("after block")

print("== nil and false are allowed")
do
  local n <close> = nil
  local f <close> = false
  local x <close> = closer("x")
  print("body with nil/false")
end

print("== break")
for i = 1, 3 do
  local v <close> = closer("loop" .. i)
  if i == 2 then break end
  print("iteration", i)
end
while true do
  local w <close> = closer("while")
  do
    local inner <close> = closer("inner")
    break
  end
end
print("after loops")

print("== return")
local function f()
  local a <close> = closer("fa")
  local b <close> = closer("fb")
  return "returned", "values"
end
print(f())
local function g()
  local a <close> = closer("ga")
  return (function() print("computing return value"); return 1 end)()
end
print(g())
local function h(n)
  local a <close> = closer("h" .. n)
  if n > 0 then return h(n - 1) end   -- not a tail call because of <close>
  return "bottom"
end
print(h(2))

print("== goto out of a block")
do
  local i = 0
  ::again::
  do
    local v <close> = closer("goto" .. i)
    i = i + 1
    if i < 3 then goto again end
  end
end
do
  do
    local v <close> = closer("jumping")
    goto out
  end
  ::out::
  print("landed")
end

print("== errors")
local function raiser()
  local a <close> = closer("ea")
  local b <close> = closer("eb")
  error("boom")
end
print(pcall(raiser))
local function raise_table()
  local a <close> = closer("et")
  error({code = 1})
end
local ok, e = pcall(raise_table)
print(ok, type(e), e.code)

print("== error inside __close replaces the error")
local function bad(name, msg)
  return setmetatable({}, {__close = function(o, err)
    print("closing", name, "saw", err)
    error(msg, 0)
  end})
end
print(pcall(function()
  local a <close> = closer("outer")
  local b <close> = bad("b", "close error b")
  local c <close> = bad("c", "close error c")
  error("original", 0)
end))
print(pcall(function()
  local a <close> = bad("a", "only close error")
  return "not reached"
end))
print(pcall(function()
  local a <close> = closer("normal")
  local b <close> = bad("b", "err in b")
  print("body runs")
end))

print("== non-closable values")
print(pcall(function() local x <close> = {} end))
print(pcall(function() local y <close> = 42 end))
print(pcall(function() local z <close> = "str" end))
print(pcall(function() local z <close> = setmetatable({}, {__index = {__close = print}}) end))
print(load("local a <close>, b <close> = 1, 2"))
print(load("local a <foo> = 1"))
print(load("local a <close> = nil; a = 1"))

print("== __close receives the object")
do
  local obj = setmetatable({}, {__close = function(o, e) print("same object", o.tag, e == nil) end})
  obj.tag = "tagged"
  local o <close> = obj
end
-- __close looked up at closing time
do
  local mt = {__close = function() print("first close fn") end}
  local o <close> = setmetatable({}, mt)
  mt.__close = function() print("replaced close fn") end
end

print("== generic for closing value")
local function iter_with_close(n, name)
  local i = 0
  return function()
    i = i + 1
    if i <= n then return i end
  end, nil, nil, closer(name)
end
for i in iter_with_close(2, "forA") do print("for body", i) end
for i in iter_with_close(5, "forB") do
  if i == 2 then break end
  print("for body", i)
end
local function in_func()
  for i in iter_with_close(5, "forC") do
    if i == 3 then return "returned from loop" end
  end
end
print(in_func())
print(pcall(function()
  for i in iter_with_close(5, "forD") do
    if i == 2 then error("error in loop", 0) end
  end
end))
print(pcall(function() for i in next, {}, nil, 42 do end end))

print("== <const>")
local K <const> = 10
local S <const> = "const string"
local function usek() return K * 2, S end
print(usek())
print(load("local x <const> = 1; x = 2"))
print(load("local x <const> = 1; local function f() x = 2 end"))
local T <const> = {}
T.field = "tables are still mutable"
print(T.field)
local A <const>, B = 1, 2
B = 3
print(A, B)
