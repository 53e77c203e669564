-- expect: fuel
-- overrun: 20000
-- steps: 100
-- Attacks: the same exponential backtracking through gsub and gmatch and match.
local s = ("a"):rep(40)
local p = ("a-"):rep(40) .. "b"
for _ in s:gmatch(p) do end
s:gsub(p, "x")
return s:match(p)
