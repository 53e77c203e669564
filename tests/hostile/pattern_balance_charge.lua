-- expect: fuel
-- fuel: 10000
-- overrun: 1000
-- steps: 1200
-- Attacks: an unbalanced `%b()` over 64 KiB of "(": every attempt scans to the end of the
-- subject, 2 * 10^9 bytes in all (a quadratic scan, like PUC's). The scan must be charged
-- by the bytes it looks at: at 64 bytes a matcher step it cost ~8.4M fuel (~370 ns a unit,
-- and this script ended inside the 12M of the step cap); charged 5 steps per 64 bytes it
-- costs ~42M, so it is still running at the cap. Each piece pauses at the step's budget.
local s = "("
for _ = 1, 16 do s = s .. s end
assert(#s == 1 << 16)
assert(string.find(s, "%b()") == nil)
