-- expect: ok
-- fuel: 10000
-- steps: 5000
-- Attacks: a big hash part (400,000 float keys), then a queue of keys through it (one key
-- removed for each added). Its index was rehashed whole by the insertion that filled it
-- (11 ms at 229,000 entries), its entries traced in one piece (2 to 4 ms a collector slice),
-- and the queue compacted the full entries every few insertions (20 ms steps at 131,072;
-- later, with compactions only when an eighth were removed keys, one took 4.5 ms).
-- Now the index grows a few positions an insertion, entries are traced in segments, and a
-- new key takes the lowest removed key's place in a full hash part (nothing moves).
local t = {}
local n = 400000
for i = 1, n do t[i + 0.5] = i end
local head = 1
for i = n + 1, n + 200000 do
  t[i + 0.5] = i
  t[head + 0.5] = nil
  head = head + 1
end
local c = 0
for k, v in pairs(t) do
  assert(k == v + 0.5)
  c = c + 1
end
assert(c == n, c)
assert(t[head + 0.5] == head and t[head - 0.5] == nil)
