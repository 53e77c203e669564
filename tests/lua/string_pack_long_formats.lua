-- string.pack, string.packsize and string.unpack over formats of many items (pack and
-- packsize work in pieces of items across steps): the bytes, sizes and values match PUC.
local f = ("i3x"):rep(70000) .. "!8 j s2 z c5 <I4 >I4 =h"
local args = {}
for i = 1, 70000 do args[i] = i * 7 - 300000 end
args[#args + 1] = -5
args[#args + 1] = "hello"
args[#args + 1] = "zed"
args[#args + 1] = "abc"
args[#args + 1] = 70000
args[#args + 1] = 70001
args[#args + 1] = -2
local s = string.pack(f, table.unpack(args))
print(#s, string.packsize(("i3x"):rep(70000)))
local sum = 0
for i = 1, #s, 97 do sum = (sum * 31 + s:byte(i)) % 1000003 end
print(sum)
local r = {string.unpack(f, s)}
print(#r, r[1], r[70000], r[70001], r[70002], r[70003], r[70004], r[70005], r[70006], r[70007], r[70008])
print(pcall(string.pack, ("b"):rep(300) , 1, 2))
print(pcall(string.pack, ("x"):rep(100000) .. "i4", 2^40))
print(#string.pack(("x"):rep(300000)))
