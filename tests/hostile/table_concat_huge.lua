-- expect: error "not enough memory"
-- Attacks: table.concat whose result is far past the string size limit, built cheaply:
-- 100000 empty strings joined by a 1 MiB separator (100 GB). The fuel to collect the
-- elements is small; the result must be refused ("resulting string too large" or similar),
-- never allocated (an allocation failure aborts the host process).
local sep = ("x"):rep(1024 * 1024)
local t = {}
for i = 1, 100000 do t[i] = "" end
return #table.concat(t, sep)
