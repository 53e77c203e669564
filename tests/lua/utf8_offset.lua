-- utf8.offset over every start position and count of a mixed string, and over a 200,000-byte
-- run of continuation bytes (moved in pieces that pause between steps).
local s = "a\xe2\x82\xacb\xf0\x9f\x98\x80c" .. ("\xe2\x82\xac"):rep(3) .. "z"
local out = {}
for i = -3, #s + 1 do
  for n = -20, 20 do
    local ok, r = pcall(utf8.offset, s, n, i)
    out[#out + 1] = tostring(ok) .. ":" .. tostring(r)
  end
end
for n = -20, 20 do out[#out + 1] = tostring(utf8.offset(s, n)) end
print(table.concat(out, " "))
local cont = ("\x80"):rep(200000)
print(utf8.offset("a" .. cont, 0, 150000), utf8.offset("a" .. cont .. "b", 2), utf8.offset("a" .. cont .. "b", -1))
