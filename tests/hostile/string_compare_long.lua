-- expect: fuel
-- fuel: 10000
-- overrun: 40000
-- steps: 100
-- Attacks: comparisons of long strings that share a long prefix: `<`, `<=` of two 2 MiB
-- strings differing in the last byte, and `==` of two distinct strings with equal contents
-- (equal hashes and lengths: every byte is compared), each a single instruction. They must
-- be charged by the bytes compared (else a step runs thousands of them: seconds).
-- The overrun bound is the setup's: a `..` making a 2 MiB string is charged 32K units at
-- once.
local x = "x"
for _ = 1, 21 do x = x .. x end
local t = {}
for i, c in ipairs({"a", "b", "a"}) do t[i] = x .. c end
local a, b, a2 = t[1], t[2], t[3]
assert(a < b and a <= b and a == a2 and not (b < a))
local n = 0
while true do
  if a < b then n = n + 1 end
  if a <= b then n = n + 1 end
  if a == a2 then n = n + 1 end
  if a ~= b then n = n + 1 end
end
