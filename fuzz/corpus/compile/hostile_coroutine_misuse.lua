-- expect: ok
-- Attacks: coroutine API misuse: wrap of a dead coroutine, resuming dead/running/normal
-- coroutines, yielding from the main thread, closing running coroutines, status of odd
-- values, isyieldable, resume with 250+ values, yield across pcall/metamethods/iterators.
local co = coroutine.wrap(function() return 1 end)
assert(co() == 1)
local ok, e = pcall(co)
assert(not ok and e:find("cannot resume dead coroutine"), e)
local c = coroutine.create(function() end)
coroutine.resume(c)
assert(coroutine.status(c) == "dead")
ok, e = coroutine.resume(c)
assert(not ok and e == "cannot resume dead coroutine", e)
ok, e = pcall(coroutine.yield, 1)
assert(not ok and e:find("attempt to yield from outside a coroutine"), e)
ok, e = pcall(coroutine.resume, coroutine.running())
assert(ok and e == false, "resuming the running main thread returns false")
local self
self = coroutine.create(function()
  local ok, e = coroutine.resume(self)
  assert(not ok and e:find("cannot resume non%-suspended coroutine"), e)
  local ok2, e2 = pcall(coroutine.close, self)
  assert(not ok2 and e2:find("cannot close a running coroutine"), e2)
  return "done"
end)
assert(select(2, coroutine.resume(self)) == "done")
local outer
outer = coroutine.create(function()
  local inner = coroutine.create(function()
    local ok, e = coroutine.resume(outer)
    assert(not ok and e:find("non%-suspended"), e)
    assert(coroutine.status(outer) == "normal")
    local ok2, e2 = pcall(coroutine.close, outer)
    assert(not ok2 and e2:find("cannot close a normal coroutine"), e2)
  end)
  assert(coroutine.resume(inner))
end)
assert(coroutine.resume(outer))
assert(not pcall(coroutine.status, 1))
assert(not pcall(coroutine.resume, {}))
assert(not pcall(coroutine.wrap, 1))
assert(not pcall(coroutine.create, nil))
assert(coroutine.isyieldable() == false)
-- many values through resume/yield
local many = {}
for i = 1, 300 do many[i] = i end
local echo = coroutine.create(function(...)
  local got = table.pack(...)
  while true do got = table.pack(coroutine.yield(table.unpack(got, 1, got.n))) end
end)
local res = table.pack(coroutine.resume(echo, table.unpack(many)))
assert(res.n == 301 and res[301] == 300)
res = table.pack(coroutine.resume(echo, table.unpack(many, 1, 250)))
assert(res.n == 251)
-- yield across pcall, metamethods, iterators, table.sort, gsub
local mt = {__add = function(a, b) return coroutine.yield("add") end,
            __index = function(t, k) return coroutine.yield("index") end}
local y = coroutine.wrap(function()
  local x = setmetatable({}, mt)
  local r = pcall(function() return x + 1 end)
  local v = x.foo
  for k in function() return coroutine.yield("iter") end do break end
  return "end"
end)
assert(y() == "add"); assert(y() == "index"); assert(y(nil) == "iter"); assert(y(nil) == "end")
-- close a suspended coroutine with pending to-be-closed variables that error
local cc = coroutine.create(function()
  local x <close> = setmetatable({}, {__close = function() error("close err") end})
  coroutine.yield()
end)
coroutine.resume(cc)
local okc, ec = coroutine.close(cc)
assert(okc == false and ec:find("close err"), ec)
assert(coroutine.close(coroutine.create(print)) == true)
-- wrap errors propagate with position info; error objects pass through
local w = coroutine.wrap(function() error({code = 1}) end)
local okw, ew = pcall(w)
assert(not okw and type(ew) == "table" and ew.code == 1)
