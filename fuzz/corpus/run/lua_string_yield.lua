-- HAND-EDITED OUTPUT (do not regenerate blindly): in lunette, functions called by
-- string.gsub (replacement functions, __index of a replacement table) and the
-- __tostring used by string.format("%s") may yield, because the string library
-- calls them as continuations. PUC 5.4 raises "attempt to yield across a C-call
-- boundary" instead. The expected output is what the yields should produce.
local co = coroutine.wrap(function()
  local r, n = string.gsub("a b c", "%a", function(c) return coroutine.yield(c) end)
  return "done", r, n
end)
print(co())
print(co("A"))
print(co("B"))
print(co(false))

local co2 = coroutine.wrap(function()
  local lazy = setmetatable({}, {__index = function(_, k) return coroutine.yield(k) end})
  return string.gsub("x-y", "%a", lazy)
end)
print(co2())
print(co2("X"))
print(co2(nil))

local co3 = coroutine.wrap(function()
  local obj = setmetatable({}, {__tostring = function() return coroutine.yield("tostring") end})
  return string.format("[%s|%5s|%d]", obj, obj, 7)
end)
print(co3())
print(co3("one"))
print(co3("two"))

-- an error after resuming still reports like a normal gsub error
local co4 = coroutine.wrap(function()
  return pcall(string.gsub, "ab", ".", function(c) return coroutine.yield(c) end)
end)
print(co4())
print(co4({}))
