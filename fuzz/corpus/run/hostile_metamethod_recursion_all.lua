-- expect: ok
-- Attacks: infinite recursion through every metamethod kind (__sub, __unm, __concat,
-- __len, __eq, __lt, __le, __call, __index, __newindex, __close, __tostring, __band,
-- __shl, __idiv, __mod, __pow, __div, __bnot): each must end with a catchable
-- "stack overflow" (or a C-stack error), never a crash.
local mt = {}
local x = setmetatable({}, mt)
local y = setmetatable({}, mt)
mt.__sub = function(a, b) return a - b end
mt.__unm = function(a) return -a end
mt.__concat = function(a, b) return a .. b end
mt.__len = function(a) return #a end
mt.__eq = function(a, b) return a == b end
mt.__lt = function(a, b) return a < b end
mt.__le = function(a, b) return a <= b end
mt.__call = function(self, ...) return (self(...)) end
mt.__band = function(a, b) return a & b end
mt.__shl = function(a, b) return a << b end
mt.__idiv = function(a, b) return a // b end
mt.__mod = function(a, b) return a % b end
mt.__pow = function(a, b) return a ^ b end
mt.__div = function(a, b) return a / b end
mt.__bnot = function(a) return ~a end
mt.__tostring = function(a) return tostring(a) end
local cases = {
  function() return x - 1 end,
  function() return -x end,
  function() return x .. "s" end,
  function() return #x end,
  function() return x == y end,
  function() return x < y end,
  function() return x <= y end,
  function() return x() end,
  function() return x & 1 end,
  function() return x << 1 end,
  function() return x // 1 end,
  function() return x % 1 end,
  function() return x ^ 1 end,
  function() return x / 1 end,
  function() return ~x end,
  function() return tostring(x) end,
  function() return string.format("%s", x) end,
  function() return print(x) end,
}
for i, f in ipairs(cases) do
  local ok, e = pcall(f)
  assert(not ok, "case " .. i .. " should fail")
  assert(type(e) == "string" and (e:find("stack overflow") or e:find("C stack")), "case " .. i .. ": " .. tostring(e))
end
