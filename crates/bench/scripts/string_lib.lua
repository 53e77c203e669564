-- String library: patterns (find/match/gmatch/gsub), format, byte/char, rep, sub.
local words = {
  "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta",
  "iota", "kappa", "lambda", "mu", "nu", "xi", "omicron", "pi",
}
local parts = {}
for i = 1, 400 do
  local w = words[(i % #words) + 1]
  parts[#parts + 1] = string.format("%s=%d,%05.2f;", w, i, i / 7)
end
local text = table.concat(parts, " ")

local checksum = 0
for _ = 1, 200 do
  -- gmatch with captures
  for key, num in text:gmatch("(%a+)=(%d+)") do
    checksum = checksum + #key + tonumber(num)
  end
  -- gsub with a function replacement and with a string replacement
  local upper = text:gsub("%a+", function(w) return w:upper() end)
  checksum = checksum + #upper
  local swapped, n = text:gsub("(%a+)=(%d+)", "%2:%1")
  checksum = checksum + #swapped + n
  -- find (plain and pattern) and match with anchors
  local pos = 1
  while true do
    local s, e = text:find("lambda", pos, true)
    if not s then break end
    checksum = checksum + s
    pos = e + 1
  end
  local a, b = text:match("^(%a+)=(%d+)")
  checksum = checksum + #a + tonumber(b)
  -- format of various kinds
  for i = 1, 400 do
    local s = string.format("%d %5.1f %x %s %q", i, i * 0.5, i, words[(i % #words) + 1], "q")
    checksum = checksum + #s
  end
  -- byte/char/rep/sub/reverse
  local r = string.rep("ab", 200, ",")
  checksum = checksum + #r + r:byte(3) + #r:reverse():sub(10, 50)
  local chars = {}
  for i = 1, 200 do chars[i] = string.char(65 + i % 26) end
  checksum = checksum + #table.concat(chars)
end
print(checksum)
