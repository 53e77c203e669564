-- expect: ok
-- Attacks: select with math.mininteger as a negative index: -mininteger overflows
-- (a debug-build panic "attempt to negate with overflow"; in release the wrapped index
-- sliced the argument list out of bounds: a panic too). Found by this suite; fixed in
-- base.rs `select` (`i < -n` instead of `-i > n`).
local ok, e = pcall(select, math.mininteger, 1)
assert(not ok and e:find("index out of range"), e)
ok, e = pcall(select, math.mininteger)
assert(not ok and e:find("index out of range"), e)
ok, e = pcall(select, -math.maxinteger, 1, 2)
assert(not ok and e:find("index out of range"), e)
assert(select(-1, 1, 2) == 2)
