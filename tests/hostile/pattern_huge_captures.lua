-- expect: ok
-- fuel: 10000
-- steps: 2000
-- Attack: pattern matches whose captures are 16 MiB (`gmatch("a*")`, `match("(a+)")`,
-- `find("(a*)")`, `gsub` with a function over a 16 MiB subject). The matcher pauses
-- between steps of its runs;
-- each capture longer than 256 KiB is a slice written by the string builder in pieces
-- (it was copied in the step that found the match: 15 ms), and a run of a literal byte
-- or a class is counted 32 bytes at a time (~0.8 ns a byte one by one: 2 ms steps).
local s = ("a"):rep(2 ^ 24)
local n = 0
for w in s:gmatch("a*") do n = n + #w end
assert(n == 2 ^ 24)
local m = s:match("(a+)")
assert(#m == 2 ^ 24)
local i, j, c = s:find("(%a*)", 1)
assert(i == 1 and j == 2 ^ 24 and #c == j)
local len
local r, k = s:gsub("(a+)", function(w) len = #w return "" end)
assert(r == "" and k == 1 and len == 2 ^ 24)
print("ok")
