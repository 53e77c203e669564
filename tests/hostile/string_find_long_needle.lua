-- expect: ok
-- fuel: 10000
-- overrun: 4000
-- steps: 2000
-- Attacks: substring search with a long needle that almost matches everywhere: a 512 KiB
-- needle ("a" x (512K - 1) .. "b") in 1 MiB of "a". A naive search does 5 * 10^11 byte
-- compares inside one call (seconds in one step). Literal patterns must be searched in
-- linear time (Two-Way), in charged pieces, pausing between them, for find (plain and
-- pattern without specials), match, gmatch and gsub, the needle's preprocessing (2 * 512K
-- loop turns) included. The subject is built by doubling so no setup call charges more than
-- the overrun bound; a search's piece is ~1,000 units.
local hay = "a"
for _ = 1, 20 do hay = hay .. hay end
local needle = "a"
for _ = 1, 19 do needle = needle .. needle end
needle = needle:sub(2) .. "b"
assert(#hay == 1 << 20 and #needle == 1 << 19)
assert(string.find(hay, needle) == nil)
assert(string.find(hay, needle, 1, true) == nil)
assert(string.match(hay, needle) == nil)
for _ in string.gmatch(hay, needle) do error("no match expected") end
local r, n = string.gsub(hay, needle, "x")
assert(n == 0 and #r == #hay)
-- And one that matches at the very end.
local hay2 = needle .. needle
assert(string.find(hay2, needle, 1, true) == 1)
assert(string.find(hay2, needle, 2, true) == (1 << 19) + 1)
assert(select(2, string.gsub(hay2, needle, "")) == 2)
