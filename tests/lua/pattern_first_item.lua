-- Searches whose pattern begins with a single-character class (past captures): the
-- positions that cannot start a match are passed over; matches, errors and positions stay PUC's.
local s = "  alpha=1, beta=22;gamma = 333 [x] ()%$ end"
local pats = {"%a+", "(%a+)=(%d+)", "()%a", "(()%d+)", "[%d=]+", "[^%s]+", "%s+", "x", "%]", "%%", "%$", "$",
  "(%a)(%a)", "[a-c]+", "%A+", "e.d", "%d+$", "(%w+)%s*=%s*(%w+)", "((%a+))", "z+", "%f[%a]%a+", "%bx]", "[]]"}
for _, p in ipairs(pats) do
  local out = {}
  for a, b, c in s:gmatch(p) do out[#out + 1] = tostring(a) .. "|" .. tostring(b) .. "|" .. tostring(c) end
  local g, n = s:gsub(p, "<%0>")
  print(p, table.concat(out, " "), g, n, s:find(p), s:find(p, 10), s:match(p, -5))
end
print(pcall(string.find, s, "(%a+"))
print(pcall(string.find, "   ", "%a+("))
print(pcall(string.gsub, "abc", "%1", "x"))
print(string.find("", "%a+"), string.find("", "%a*"), ("x"):rep(3):find("%a+", 4))
print(pcall(string.find, "  a", string.rep("(", 40) .. "%a" .. string.rep(")", 40)))
