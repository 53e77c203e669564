-- expect: ok
-- fuel: 10000
-- steps: 5000
-- Attacks: a big weak-keyed cache (150,000 entries whose keys stay alive, then a fifth of
-- them replaced, their old keys dead) while the host collects every few steps. The end of
-- each full collection scanned every entry of every weak table it reached at once (3 ms for
-- this one, at every collection); the scan is now the collection's last stage, in slices
-- paid like the mark.
local wk = setmetatable({}, {__mode = "k"})
local keep = {}
for i = 1, 150000 do
  local k = {}
  keep[i] = k
  wk[k] = i
end
for i = 1, 150000, 5 do
  local k = {}
  keep[i] = k
  wk[k] = i
end
for i = 1, 150000, 7 do assert(wk[keep[i]] == i) end
