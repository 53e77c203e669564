-- expect: error "not enough memory"
-- overrun: 2197152
-- (overrun: one call builds a single big string, charged 1 unit per 32 bytes at once:
-- bounded by the memory limit, BIG_STRING_OVERRUN in tests/hostile.rs)
-- steps: 300
-- Attacks: string doubling with the .. operator (s = s .. s) until the size limit: each
-- concatenation is one instruction; the last legal ones copy 1 GiB. Must end with a clean
-- error when the result would pass the limit, and no single step may do far more work than
-- its budget.
local s = "x"
while true do s = s .. s end
