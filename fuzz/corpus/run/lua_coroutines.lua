-- coroutines

print("== resume / yield passing values")
local co = coroutine.create(function(a, b)
  print("start", a, b)
  local c = coroutine.yield(a + b)
  print("got", c)
  local d, e = coroutine.yield(c * 2)
  print("got", d, e)
  return "done", d + e
end)
print(coroutine.resume(co, 1, 2))
print(coroutine.resume(co, 10))
print(coroutine.resume(co, 3, 4))
print(coroutine.resume(co))
print(coroutine.resume(co))
print(coroutine.status(co))

print("== status in all states")
local main_co, is_main = coroutine.running()
print(type(main_co), is_main)
local c1, c2
c1 = coroutine.create(function()
  print("c1 inside: c1 is", coroutine.status(c1))
  local r, m = coroutine.running()
  print("running inside:", type(r), m, r == c1)
  coroutine.resume(c2)
  coroutine.yield()
end)
c2 = coroutine.create(function()
  print("c2 inside: c1 is", coroutine.status(c1), "c2 is", coroutine.status(c2))
end)
print(coroutine.status(c1))
coroutine.resume(c1)
print(coroutine.status(c1), coroutine.status(c2))
coroutine.resume(c1)
print(coroutine.status(c1))
print(coroutine.status(main_co))

print("== errors in coroutines")
local ce = coroutine.create(function() error("inside") end)
print(coroutine.resume(ce))
print(coroutine.status(ce))
print(coroutine.resume(ce))
local ct = coroutine.create(function() error({msg = "tbl"}) end)
local ok, err = coroutine.resume(ct)
print(ok, type(err), err.msg)
print(coroutine.resume(coroutine.create(function() local x; return x.y end)))
local self_resume
self_resume = coroutine.create(function() return coroutine.resume(self_resume) end)
print(coroutine.resume(self_resume))
print(coroutine.resume(coroutine.running()))
print(pcall(coroutine.yield, 1))
print(select(2, pcall(function() coroutine.yield() end)))
print(coroutine.isyieldable())
print(coroutine.resume(coroutine.create(function() return coroutine.isyieldable() end)))

print("== wrap")
local gen = coroutine.wrap(function(n)
  for i = 1, n do coroutine.yield(i) end
  return "end"
end)
print(gen(3), gen(), gen(), gen())
print(pcall(gen))
local werr = coroutine.wrap(function() error("wrapped error") end)
print(pcall(werr))
local werr2 = coroutine.wrap(function() error({code = 5}) end)
local okw, ew = pcall(werr2)
print(okw, type(ew), ew.code)
local werr3 = coroutine.wrap(function() local t = nil; return t.x end)
print(pcall(werr3))
local function gen_from(t)
  return coroutine.wrap(function() for _, v in ipairs(t) do coroutine.yield(v) end end)
end
for v in gen_from({"a", "b", "c"}) do print("gen", v) end

print("== yield across pcall")
local cp = coroutine.create(function()
  local r = {pcall(function()
    local x = coroutine.yield("yield inside pcall")
    if x == "raise" then error("raised after yield", 0) end
    return "pcall body done", x
  end)}
  coroutine.yield(r[1], r[2], r[3])
  local r2 = {pcall(function()
    coroutine.yield("second")
    error("raised", 0)
  end)}
  return r2[1], r2[2]
end)
print(coroutine.resume(cp))
print(coroutine.resume(cp, "val"))
print(coroutine.resume(cp))
print(coroutine.resume(cp))
local cx = coroutine.create(function()
  return xpcall(function() coroutine.yield("in xpcall"); error("E", 0) end, function(m) return "handled " .. m end)
end)
print(coroutine.resume(cx))
print(coroutine.resume(cx))

print("== yield inside metamethods")
local mt = {
  __index = function(t, k) return coroutine.yield("index " .. k) end,
  __add = function(a, b) return coroutine.yield("add") end,
  __newindex = function(t, k, v) coroutine.yield("newindex " .. k); rawset(t, k, v) end,
  __eq = function(a, b) return coroutine.yield("eq") end,
  __lt = function(a, b) return coroutine.yield("lt") end,
  __concat = function(a, b) return coroutine.yield("concat") end,
  __call = function(self, x) return coroutine.yield("call " .. x) end,
  __len = function() return coroutine.yield("len") end,
}
local cm = coroutine.create(function()
  local o = setmetatable({}, mt)
  local o2 = setmetatable({}, mt)
  local r = {}
  r[1] = o.foo
  r[2] = o + 1
  o.bar = "set"
  r[3] = rawget(o, "bar")
  r[4] = (o == o2)
  r[5] = (o < o2)
  r[6] = o .. "x"
  r[7] = o("arg")
  r[8] = #o
  return r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8]
end)
local resp = {coroutine.resume(cm)}
local step = 0
while coroutine.status(cm) == "suspended" do
  step = step + 1
  print("yielded:", resp[2])
  resp = {coroutine.resume(cm, "v" .. step)}
end
print(resp[1], resp[2], resp[3], resp[4], resp[5], resp[6], resp[7], resp[8], resp[9])

print("== yield inside generic-for iterator")
local cf = coroutine.wrap(function()
  local function iter(s, i)
    coroutine.yield("iter at " .. i)
    if i < 3 then return i + 1 end
  end
  local sum = 0
  for i in iter, nil, 0 do sum = sum + i end
  return "sum " .. sum
end)
for i = 1, 5 do print(cf()) end

print("== resume errors")
local dead = coroutine.create(function() end)
coroutine.resume(dead)
print(coroutine.resume(dead))
local wdead = coroutine.wrap(function() end)
wdead()
print(pcall(wdead))
local outer
outer = coroutine.create(function()
  local inner = coroutine.create(function()
    print("resume normal:", coroutine.resume(outer))
  end)
  coroutine.resume(inner)
  print("resume running:", coroutine.resume(outer))
end)
coroutine.resume(outer)

print("== coroutine.close")
local cc = coroutine.create(function()
  local x <close> = setmetatable({}, {__close = function(_, e) print("closing pending x", e) end})
  local y <close> = setmetatable({}, {__close = function(_, e) print("closing pending y", e) end})
  coroutine.yield("suspended with pending close")
end)
print(coroutine.resume(cc))
print(coroutine.close(cc))
print(coroutine.status(cc))
print(coroutine.resume(cc))
print(coroutine.close(cc))
print(coroutine.close(coroutine.create(function() end)))
local cerr = coroutine.create(function() error("died", 0) end)
coroutine.resume(cerr)
print(coroutine.close(cerr))
print(coroutine.status(cerr))
local cclose_err = coroutine.create(function()
  local x <close> = setmetatable({}, {__close = function() error("close failed", 0) end})
  coroutine.yield()
end)
coroutine.resume(cclose_err)
print(coroutine.close(cclose_err))
print(pcall(coroutine.close, coroutine.running()))
local closer_co
closer_co = coroutine.create(function()
  return pcall(coroutine.close, closer_co)
end)
print(coroutine.resume(closer_co))
local cn_outer
cn_outer = coroutine.create(function()
  local inner = coroutine.create(function() return coroutine.close(cn_outer) end)
  return coroutine.resume(inner)
end)
print(coroutine.resume(cn_outer))

print("== producer / consumer")
local function producer()
  return coroutine.create(function()
    for _, item in ipairs({"apple", "banana", "cherry"}) do coroutine.yield(item) end
    return nil
  end)
end
local function filter(prod)
  return coroutine.create(function()
    while true do
      local _, item = coroutine.resume(prod)
      if item == nil then return nil end
      coroutine.yield(item .. "!")
    end
  end)
end
local f = filter(producer())
while true do
  local _, item = coroutine.resume(f)
  if item == nil then break end
  print("consumed", item)
end

print("== deep recursion inside a coroutine")
local deep = coroutine.wrap(function()
  local function rec(n) if n == 0 then return coroutine.yield("bottom") end return 1 + rec(n - 1) end
  return rec(10000)
end)
print(deep())
print(deep(5))

print("== many coroutines")
local cos = {}
for i = 1, 100 do cos[i] = coroutine.wrap(function() local v = i; while true do v = v + coroutine.yield(v) end end) end
local total = 0
for i = 1, 100 do total = total + cos[i]() end
for i = 1, 100 do total = total + cos[i](1) end
print(total)

print("== yield from nested function calls and varargs")
local cv = coroutine.create(function(...)
  local function helper(...) return coroutine.yield(...) end
  local a, b, c = helper(...)
  return select('#', a, b, c), a, b, c
end)
print(coroutine.resume(cv, 1, nil, 3))
print(coroutine.resume(cv, "x", nil))
print(coroutine.resume(coroutine.create(function() return coroutine.yield() end)))
print(select('#', coroutine.resume(coroutine.create(function() end))))
print(coroutine.isyieldable(), type(coroutine.running()))
local wr = coroutine.wrap(function(...) return select('#', ...), ... end)
print(wr(nil, nil))
