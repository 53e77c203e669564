-- bitwise operators

local mininteger = -9223372036854775807 - 1
local maxinteger = 9223372036854775807

print("== basic ops")
print(0xF0 & 0x3C, 0xF0 | 0x3C, 0xF0 ~ 0x3C, ~0, ~5, ~-1)
print(5 & 3, 5 | 3, 5 ~ 3, -1 & 0xFF, mininteger | 1, maxinteger & -2)
print(~mininteger == maxinteger, ~maxinteger == mininteger)

print("== shifts")
print(1 << 0, 1 << 1, 1 << 62, 1 << 63, 1 << 64, 1 << 65, 1 << 100)
print(-1 >> 1, -1 >> 63, -1 >> 64, -1 << 64, 256 >> 4, 256 >> 9)
print(1 << -1, 2 << -1, 256 << -4, 1 >> -1, 1 >> -63, 1 >> -64)
print(3 << mininteger, 3 >> mininteger, 3 << maxinteger, -1 >> maxinteger)
print(mininteger >> 63, mininteger >> 1, (mininteger >> 1) == (1 << 62))
local sixtyfour = 64
print(5 << sixtyfour, 5 >> sixtyfour, 5 << 63, 7 << 62)

print("== precedence")
print(1 | 2 & 3, 1 ~ 3 & 2, 1 << 2 + 1, 1 | 2 ~ 3, 5 & 3 == 1, 0xF ~ 0xF | 1)
print(~~5, - ~5, ~ -5, 1 << 2 << 3, 256 >> 2 >> 3)

print("== floats with exact integer values")
print(3.0 | 0, 2.0^53 | 0, 1.0 << 2, -1.0 & 0xFF, ~0.0, 5.0 ~ 1.0)
print(pcall(function() return 1.5 | 0 end))
print(pcall(function() return 2^63 | 0 end))
print(pcall(function() return 1 << 0.5 end))
print(pcall(function() return (1/0) & 1 end))
print(pcall(function() return (0/0) ~ 1 end))
print(pcall(function() return ~1.5 end))
print(pcall(function() local x = 3.25; return x >> 1 end))
print(-2^63 | 0, (-2^63 | 0) == mininteger)

print("== strings are NOT coerced by bitwise operators in 5.4.4")
-- (the string library only provides arithmetic metamethods, no bitwise ones)
print(pcall(function() return "3" | 0 end))
print(pcall(function() return 2 .. 3 << 1 end))
local s3 = "3"
print(pcall(function() return s3 & 1 end))
print(pcall(function() local a = "7"; return ~a end))
print(pcall(function() return "3.5" | 0 end))
print(pcall(function() return "abc" | 0 end))
print(pcall(function() return 1 & "x" end))
print(pcall(function() return "1e100" | 0 end))

print("== errors on other types")
print(pcall(function() return nil | 1 end))
print(pcall(function() local x; return x & 1 end))
print(pcall(function() return 1 ~ {} end))
print(pcall(function() return ~true end))
print(pcall(function() return undefinedglobal << 1 end))
local t = {}
print(pcall(function() return t.field >> 1 end))
print(pcall(function() return 1 | print end))

print("== identities")
local vals = {0, 1, -1, 12345, -98765, maxinteger, mininteger, 0x5555555555555555}
local ok = true
for _, a in ipairs(vals) do
  for _, b in ipairs(vals) do
    if (a ~ b) ~ b ~= a then ok = false end
    if (a & b) | (a & ~b) ~= a then ok = false end
    if ~(a | b) ~= (~a & ~b) then ok = false end
    if (a ~ b) ~= ((a | b) & ~(a & b)) then ok = false end
  end
  for n = 0, 70 do
    if (a << n) ~= (a >> -n) then ok = false end
  end
end
print("identities hold:", ok)
-- logical right shift fills with zeros
print(mininteger >> 1 == 0x4000000000000000, (-8 >> 1) == 0x7FFFFFFFFFFFFFFC)
print(0xFF // 16 & 0xF, 0xAB >> 4 & 0xF, (0xAB & 0xF) << 4)
