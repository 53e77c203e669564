-- expect: ok
-- steps: 2000
-- Attacks: a coroutine resuming a coroutine resuming ... 100000 deep (the resume chain),
-- then yielding all the way back and erroring from the bottom. PUC says "C stack overflow"
-- at ~200 levels; a stackless VM may allow it: either a clean error or success is fine,
-- but never a crash.
local depth = 0
local function nest(n)
  if n == 0 then
    coroutine.yield("bottom")
    error("from the bottom")
  end
  local co = coroutine.create(nest)
  local ok, v = coroutine.resume(co, n - 1)
  depth = depth + 1
  if not ok then error(v, 0) end
  coroutine.yield(v)
  local ok2, e = coroutine.resume(co)
  error(e, 0)
end
local co = coroutine.create(nest)
local ok, v = coroutine.resume(co, 100000)
assert(type(ok) == "boolean")
if ok then
  assert(v == "bottom", v)
  local ok2, e = coroutine.resume(co)
  assert(not ok2 and tostring(e):find("from the bottom"), e)
else
  assert(tostring(v):find("overflow"), v)
end
