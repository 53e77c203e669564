-- strings: concatenation, length, comparison, equality

print("== concatenation")
print(1 .. 2, 1.5 .. "", -0.0 .. "", 10 .. "", 1e100 .. "", 2^63 .. "")
print("a" .. "b" .. "c", "x" .. 1 .. 2.0 .. "y", "" .. "", #("" .. ""))
print(-9223372036854775807 - 1 .. "", 9223372036854775807 .. "|")
print(1/0 .. "", -1/0 .. "", 0.1 .. "", 100 // 1.0 .. "", 3 .. 4 == "34")
local a, b, c = "p", "q", "r"
print(a .. b .. c .. a .. b .. c, (a .. b) .. (c .. a))
local s = ""
for i = 1, 10 do s = s .. i .. "," end
print(s, #s)
local long = "0123456789"
for _ = 1, 5 do long = long .. long end
print(#long)
print(pcall(function() return "a" .. nil end))
print(pcall(function() return "a" .. {} end))
print(pcall(function() return true .. "a" end))
print(pcall(function() local x; return "a" .. x end))
print(pcall(function() return "a" .. undefinedvar .. "b" end))
local t = {}
print(pcall(function() return t.name .. "x" end))
print(pcall(function() return 1 .. 2 .. print end))
-- concatenation is right associative; chain of many operands
local x = "a" .. "b" .. "c" .. "d" .. "e" .. "f" .. "g" .. "h" .. "i" .. "j" .. "k" .. "l" .. "m" .. "n" .. "o" .. "p" .. "q" .. "r" .. "s" .. "t" .. "u" .. "v" .. "w" .. "x" .. "y" .. "z"
print(x, #x)
local n1, n2, n3 = 1, 2, 3
print(n1 .. n2 .. n3 .. n1 + n2 .. n3 * 2)

print("== length")
print(#"", #"a", #"hello", #"\0\0\0", #"\u{20AC}", #[[
x]], #("ab" .. "cd"))
print(#"hello" + 1, -#"abc", #"abc" == 3)

print("== comparison")
print("a" < "b", "a" < "a", "a" <= "a", "b" > "a", "abc" < "abd", "abc" < "ab")
print("" < "a", "a" < "", "Z" < "a", "10" < "2", "a\0b" < "a\0c", "a\0" > "a")
print("\255" > "a", "\127" < "\128", "A" < "a", " " < "!", "abc" >= "abc")
print("\0" < "\1", "" == "", "a\0" == "a", "abc" ~= "abd")
print(pcall(function() return "a" < 1 end))
print(pcall(function() return {} < "a" end))
print(pcall(function() return "a" <= nil end))

print("== equality")
print("abc" == "abc", "abc" == "ab" .. "c", "1" == 1, 1 == "1", "" == nil)
local built = ""
for _, p in ipairs({"h", "e", "l", "l", "o"}) do built = built .. p end
print(built == "hello", rawequal(built, "hello"), built ~= "hell")
local key = "k" .. 1
local tt = {k1 = "found"}
print(tt[key], tt["k" .. "1"], tt[("k1")])
print(type("x"), type(""), type("" .. 1))

print("== strings as table keys")
local tab = {}
tab["1"] = "string one"
tab[1] = "integer one"
print(tab["1"], tab[1], tab[1.0], tab["1.0"])
local longkey = ""
for i = 1, 50 do longkey = longkey .. "x" end
tab[longkey] = "long"
local longkey2 = ""
for i = 1, 50 do longkey2 = longkey2 .. "x" end
print(tab[longkey2], #longkey2)

print("== tostring of numbers in concat")
print(0 .. "", -0 .. "", 1e15 .. "", 1e16 .. "", 0.5 .. "", -1.5e-10 .. "")
print(255 .. "" == "255", 2^24 .. "", 7 // 2 .. "", 7 / 2 .. "")
