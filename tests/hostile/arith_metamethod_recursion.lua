-- expect: error "stack overflow"
-- Attacks: infinite recursion through arithmetic metamethods: __add calling + on itself.
local mt = {}
mt.__add = function(a, b) return a + b end
local x = setmetatable({}, mt)
return x + 1
