-- expect: ok
-- Attacks: errors inside __close handlers (in normal exit, in error unwinding, in
-- coroutines being closed, nested), __close that yields, non-closable values, a <close>
-- variable whose metamethod is removed after declaration, and a __close that recurses.
local log = {}
local function closer(name, fail)
  return setmetatable({}, {__close = function(_, err)
    log[#log + 1] = name
    if fail then error(name .. " failed", 0) end
  end})
end
local ok, e = pcall(function()
  local a <close> = closer("a", true)
  local b <close> = closer("b", true)
  local c <close> = closer("c", false)
end)
assert(not ok and e == "a failed", e)
assert(table.concat(log, ",") == "c,b,a")
ok, e = pcall(function()
  local a <close> = closer("a2", true)
  error("body")
end)
assert(not ok and e == "a2 failed", e)
ok, e = pcall(function() local x <close> = 42 end)
assert(not ok and e:find("variable 'x' got a non%-closable value"), e)
ok, e = pcall(function() local x <close> = {} end)
assert(not ok and e:find("non%-closable value"), e)
assert(pcall(function() local x <close> = nil; local y <close> = false end))
-- metamethod removed after declaration
local mt = {__close = function() end}
ok, e = pcall(function()
  local x <close> = setmetatable({}, mt)
  mt.__close = nil
end)
assert(not ok, "a removed __close must error")
-- __close that yields inside a coroutine
local co = coroutine.wrap(function()
  local x <close> = setmetatable({}, {__close = function() coroutine.yield("closing") end})
  return "body done"
end)
assert(co() == "closing")
assert(co() == "body done")
-- __close with infinite recursion through another close
local function deep(n)
  local x <close> = setmetatable({}, {__close = function() deep(n + 1) end})
end
ok, e = pcall(deep, 1)
-- (under the sandbox's memory limit the recursion may run out of memory first)
assert(not ok and (tostring(e):find("stack overflow") or e == "not enough memory"), e)
-- error objects of every type from __close
for _, v in ipairs{1, 2.5, true, {}, print, coroutine.create(print)} do
  ok, e = pcall(function()
    local x <close> = setmetatable({}, {__close = function() error(v) end})
  end)
  assert(not ok and e == v)
end
ok, e = pcall(function()
  local x <close> = setmetatable({}, {__close = function() error() end})
end)
assert(not ok and e == nil)
-- goto out of a block with a pending close, many times
local closed = 0
for i = 1, 1000 do
  do
    local x <close> = setmetatable({}, {__close = function() closed = closed + 1 end})
    goto next
  end
  ::next::
end
assert(closed == 1000)
-- const assignment refused at compile time
assert(load("local x <const> = 1; x = 2") == nil)
assert(load("local x <foo> = 1") == nil)
