-- expect: ok
-- fuel: 10000
-- overrun: 20000
-- steps: 3000
-- Attacks: table.sort of 10^5 numbers: the all-Rust sort of plain arrays could not pause
-- (10^6 elements: 135 ms and 2*10^7 units over budget in one step). Only arrays up to 2^14
-- elements are sorted in one go now; bigger ones run on the resumable quicksort machine.
local t, x = {}, 1
for i = 1, 100000 do
  x = (x * 1103515245 + 12345) % 2147483648
  t[i] = x
end
table.sort(t)
for i = 2, #t do assert(t[i - 1] <= t[i]) end
