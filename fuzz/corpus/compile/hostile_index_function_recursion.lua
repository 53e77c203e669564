-- expect: error "stack overflow"
-- Attacks: an __index function that indexes its own table forever (unbounded recursion
-- through a metamethod): must end with a Lua "stack overflow" error, no Rust stack use.
local t = setmetatable({}, {__index = function(t, k) return t[k + 1] end})
return t[1]
