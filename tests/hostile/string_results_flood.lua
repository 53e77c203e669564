-- expect: ok
-- fuel: 10000
-- overrun: 140000
-- steps: 20000
-- Attacks: multiple results floods: s:byte(1, -1), utf8.codepoint(s, 1, -1) and
-- string.unpack of 2^19 items each push half a million values in one call. They must be
-- charged and the stack reserved against the memory limit before pushing, pushed in pieces
-- that pause when fuel runs out, and slices past PUC's stack limit (1,000,000 slots)
-- refused before any work, with PUC's messages. The overrun bound covers growing the stack
-- to 2^20 slots (16 MiB of fresh memory, charged 16K units at once) after a 1 MiB `..`; the
-- unfixed byte(1, -1) charged 64K units in one call. Passing the half million results on
-- to `select` is one call with 2^19 arguments: moved in one piece, charged 1 unit per 8
-- values before the move (64K units, 77K with what the step already spent; at most 125K
-- for PUC's 1M-slot stack).
local s = "x"
for _ = 1, 19 do s = s .. s end
local fmt = "b"
for _ = 1, 19 do fmt = fmt .. fmt end
for _ = 1, 5 do
  assert(select("#", s:byte(1, -1)) == 1 << 19)
  assert(select("#", utf8.codepoint(s, 1, -1)) == 1 << 19)
  assert(select("#", string.unpack(fmt, s)) == (1 << 19) + 1)
end
local big = s .. s
local ok, e = pcall(string.byte, big, 1, -1)
assert(not ok and e:find("stack overflow %(string slice too long%)"), e)
ok, e = pcall(utf8.codepoint, big, 1, -1)
assert(not ok and e:find("stack overflow %(string slice too long%)"), e)
ok, e = pcall(string.unpack, fmt .. fmt, big)
assert(not ok and e:find("stack overflow %(too many results%)"), e)
