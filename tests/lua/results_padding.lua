-- A call that wants more results than the callee has registers: the missing ones are nil
-- (lunette's fast return path once wrote them past the end of the stack).
local function none() return end
local function one() return 1 end
local function two() local x, y = 1, 2 return x end
local a, b, c, d, e, f, g, h, i, j, k, l = none()
print(a, b, l)
local a, b, c, d, e, f, g, h, i, j, k, l = one()
print(a, b, l)
local a, b, c, d, e, f, g, h, i, j, k, l = two()
print(a, b, l)
local t = {}
for n = 1, 3 do
  local p, q, r, s, u, v, w, x, y, z = one()
  t[#t + 1] = tostring(p) .. tostring(z)
end
print(table.concat(t, " "))
