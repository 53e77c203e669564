-- expect: fuel-or-error "not enough memory"
-- fuel: 10000
-- overrun: 5000
-- steps: 3000
-- Attacks: gsub with a match at every byte of a 1 MiB subject, each replaced by 64 copies
-- of itself (64 MiB of output), and with a function replacement returning captures. The
-- output buffer must be reserved against the memory limit by capacity before it grows, the
-- work charged and done in pieces that pause when fuel runs out, and the 2 MiB result (made
-- of thousands of saved parts) built in pieces too. (Unfixed, gsub paused only every
-- million matcher steps: 250K units; its result's assembly was 32K units in one go.)
local s = "q"
for _ = 1, 20 do s = s .. s end
local r = s:gsub("(.)", function(c) return c .. c end)
assert(#r == 2 << 20)
return #s:gsub(".", ("%0"):rep(64))
