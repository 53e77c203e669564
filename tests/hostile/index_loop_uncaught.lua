-- expect: error "'__index' chain too long; possible loop"
-- Attacks: an uncaught __index cycle between two tables.
local a, b = {}, {}
setmetatable(a, {__index = b})
setmetatable(b, {__index = a})
return a.anything
