-- expect: ok
-- fuel: 10000
-- steps: 5000
-- Attack: 32 MiB array parts made and dropped in turn while the script goes on allocating.
-- A freed part went to the reaper thread whole: its unmapping held the process's memory-map
-- lock for milliseconds while the VM's page faults waited, and glibc then served blocks up
-- to 32 MiB from its heap, where the next table's growth copied its array: steps of 7-16 ms.
-- The reaper now shrinks a part 1 MiB at a time, napping between pieces (1.4-1.7 ms).
local made = 0
for round = 1, 4 do
  local t = {}
  for i = 1, 1 << 21 do t[i] = i end
  made = made + #t
  t = nil
  local s = {}
  for i = 1, 20000 do s[i] = ("x"):rep(100) .. i end
end
assert(made == 4 << 21)
print("ok")
