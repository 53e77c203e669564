-- Substring search with needles long enough for the resumable Two-Way search (4 KiB and
-- more): periodic and aperiodic needles, matches at the start, the end, overlapping and
-- adjacent, through find (plain and without specials), match, gmatch and gsub.
local function rnd(seed, n, alphabet)
  local t = {}
  for i = 1, n do
    seed = (seed * 1103515245 + 12345) % 2147483648
    local k = (seed >> 16) % #alphabet + 1
    t[i] = alphabet:sub(k, k)
  end
  return table.concat(t)
end

local text = rnd(7, 200000, "abcd")
local needles = {
  text:sub(1, 5000),            -- at the very start
  text:sub(-6000),              -- at the very end
  text:sub(100001, 108192),     -- in the middle
  text:sub(50000, 60000) .. "e",-- never
  ("ab"):rep(3000),             -- periodic
  ("ab"):rep(3000) .. "c",
  "c" .. ("ab"):rep(3000),
  ("a"):rep(4095) .. "b",
  "b" .. ("a"):rep(4095),
}
local hays = {
  text,
  ("ab"):rep(20000),
  ("ab"):rep(10000) .. "c" .. ("ab"):rep(10000),
  ("a"):rep(30000) .. "b" .. ("a"):rep(30000),
  ("a"):rep(9000),
}
for hi, hay in ipairs(hays) do
  for ni, needle in ipairs(needles) do
    local a, b = string.find(hay, needle, 1, true)
    local c, d = string.find(hay, needle)
    local e = string.match(hay, needle)
    local count = 0
    local firsts = {}
    for m in string.gmatch(hay, needle) do
      assert(m == needle)
      count = count + 1
    end
    local init = 1
    while #firsts < 3 do
      local s, f = string.find(hay, needle, init, true)
      if not s then break end
      firsts[#firsts + 1] = s .. "-" .. f
      init = f + 1
    end
    local r, n = string.gsub(hay, needle, "<>")
    local from = string.find(hay, needle, (a or 1) + 1, true)
    print(hi, ni, a, b, c == a and d == b, e and #e, count, table.concat(firsts, ","),
      n, #r, from)
  end
end
-- Overlapping occurrences: stepping the init one past each match.
local hay, needle = ("ab"):rep(5000), ("ab"):rep(2100)
local pos, seen = 1, 0
while true do
  local s = string.find(hay, needle, pos, true)
  if not s then break end
  seen = seen + 1
  pos = s + 1
end
print("overlapping", seen)
-- A needle longer than the subject, and init past the end.
print(string.find(("a"):rep(5000), ("a"):rep(5001), 1, true))
print(string.find(("a"):rep(5000), ("a"):rep(4096), 905, true))
print(string.find(("a"):rep(5000), ("a"):rep(4096), 906, true))
print(string.find(("a"):rep(5000), ("a"):rep(4096), -4096, true))
