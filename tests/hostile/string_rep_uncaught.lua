-- expect: error "resulting string too large"
-- Attacks: an uncaught huge string.rep through the string metatable (method call) and a
-- huge separator: must end the script with an error, not allocate terabytes.
local s = ("x"):rep(1000)
return s:rep(2^40, s)
