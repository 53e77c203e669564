-- expect: fuel-or-error "not enough memory"
-- steps: 100
-- Attacks: gsub whose output explodes: every byte of a 100 KB subject replaced by a
-- 1 MiB string (100 GB). Must be refused ("resulting string too large" or similar) or cut
-- off by fuel, never allocated in one step.
local big = ("r"):rep(1024 * 1024)
local s = ("x"):rep(100000)
return #s:gsub(".", big)
