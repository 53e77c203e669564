-- expect: error "not enough memory"
-- Attacks: table.concat of 5000 references to one 1 MiB string (5 GB result) with no
-- separator: the table is cheap to build, the result must be refused.
local s = ("y"):rep(1024 * 1024)
local t = {}
for i = 1, 5000 do t[i] = s end
return #table.concat(t)
