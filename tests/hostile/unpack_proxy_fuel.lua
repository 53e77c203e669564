-- expect: fuel-or-error "too many results"
-- steps: 100
-- Attacks: table.unpack over a proxy whose __index is a function, for 1e6 results (legal in
-- size): each element is a Lua call, so it is paid for with fuel.
local p = setmetatable({}, {__index = function(_, i) return i end})
return select("#", table.unpack(p, 1, 999999))
