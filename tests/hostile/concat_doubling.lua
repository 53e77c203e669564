-- expect: error "not enough memory"
-- overrun: 5000
-- (overrun: a big string is built in pieces of 64 KiB, each charged before it is written
-- (lunette_vm::big_string): a step overruns its budget by at most one piece)
-- steps: 300
-- Attacks: string doubling with the .. operator (s = s .. s) until the size limit: each
-- concatenation is one instruction; the last legal ones copy 1 GiB. Must end with a clean
-- error when the result would pass the limit, and no single step may do far more work than
-- its budget.
local s = "x"
while true do s = s .. s end
