-- expect: ok
-- Attacks: the concat operator on many operands at once (a 190-operand a..b..c.. chain is
-- one CONCAT instruction), with numbers, __concat metamethods in the middle, and errors.
local parts = {}
for i = 1, 190 do parts[i] = "a" end
local f = load("local a = ... return " .. table.concat(parts, " .. "))
assert(#f(("x"):rep(1000)) == 190000)
local obj = setmetatable({}, {__concat = function(a, b) return "M" end})
local g = load("local a, o = ... return a .. a .. o .. a .. 1 .. 2.5")
assert(g("s", obj) == "ssM")
local ok, e = pcall(load("local a = ... return a .. {} .. a"), "s")
assert(not ok and e:find("attempt to concatenate a table value"), e)
ok, e = pcall(load("local a = ... return a .. nil"), "s")
assert(not ok and e:find("attempt to concatenate a nil value"), e)
