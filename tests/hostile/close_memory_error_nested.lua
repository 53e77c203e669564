-- expect: ok
-- overrun: 5000
-- (overrun: a big string is built in pieces of 64 KiB, each charged before it is written
-- (lunette_vm::big_string): a step overruns its budget by at most one piece)
-- Attack: a memory error unwinding through nested coroutine.wrap calls whose bodies have
-- <close> variables (handlers that ignore it, re-raise it, or raise their own error). A
-- memory error is reported once, cleanly ("not enough memory", no positions glued onto it at
-- every level: PUC's auxwrap leaves memory errors alone); a handler's own error replaces it.
local function boom() local s = "x" while true do s = s .. s end end
local function nest(n, close)
  return coroutine.wrap(function()
    local x <close> = setmetatable({}, {__close = close})
    if n == 0 then boom() end
    nest(n - 1, close)()
  end)()
end
local ok, e = pcall(nest, 30, function() end)
assert(not ok and e == "not enough memory", e)
ok, e = pcall(nest, 30, function(_, err) error(err, 0) end)
assert(not ok and e == "not enough memory", e)
local function deep(n)
  local x <close> = setmetatable({}, {__close = function(_, err) error(err, 0) end})
  if n > 0 then deep(n - 1) end
  boom()
end
ok, e = pcall(deep, 100)
assert(not ok and e == "not enough memory", e)
-- a handler's own error replaces the memory error (PUC 5.4)
ok, e = pcall(nest, 3, function(_, err) error("handler", 0) end)
assert(not ok, e)
assert(e:match("handler$"), e)
