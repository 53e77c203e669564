-- Strings longer than 256 KiB: lunette builds them in pieces across steps (`..`,
-- string.rep, table.concat, string.gsub, string.format); the results must be the same bytes.

-- a sampled hash of a string's bytes (every 61st byte, and the length)
local function digest(s)
  local h = #s
  for i = 1, #s, 61 do h = (h * 31 + s:byte(i)) % 1000000007 end
  return h
end

local function show(label, s)
  print(label, #s, s:sub(1, 12), s:sub(-12), digest(s))
end

-- `..` of strings and numbers in one run
local a = string.rep("ab", 150000)
local b = ("x"):rep(100001, ", ")
show("concat run", a .. 12 .. b .. 3.5 .. a .. -7)
show("concat middle", ("<"):rep(10) .. a .. (">"):rep(10))

-- doubling
local s = "q"
for i = 1, 19 do s = s .. s .. i end
show("doubling", s)
print(s:sub((1 << 18) - 5, (1 << 18) + 5))

-- a `__concat` metamethod to the left of a big run
local mt = {__concat = function(x, y)
  if type(x) == "table" then return "T" .. #y else return #x .. "T" end
end}
local obj = setmetatable({}, mt)
print(obj .. a .. b)
print(#(a .. b .. obj), (a .. b .. obj):sub(-8))

-- string.rep with and without a separator, a single big copy, and a long separator
show("rep", ("abc"):rep(100000))
show("rep sep", ("abc"):rep(70000, "--"))
show("rep one", a:rep(1))
show("rep long sep", ("x"):rep(3, a))
show("rep two", a:rep(2, "|"))

-- table.concat of many items, with and without a separator
local t = {}
for i = 1, 50000 do t[i] = ("%05d"):format(i) end
show("table.concat", table.concat(t, "|"))
show("table.concat range", table.concat(t, "", 101, 49000))
local big = {a, b, a}
show("table.concat big items", table.concat(big, ";"))
show("table.concat one big item", table.concat({a}))
show("table.concat mid items", table.concat({("m"):rep(70000), "z", ("n"):rep(70000)}, "+"))
show("table.concat mixed", table.concat({"<", a, 1, 2.5, b, ">"}, "", 2, 5))

-- gsub and format with big outputs
local g, n = table.concat(t, "|"):gsub("|", "<>")
show("gsub", g)
print("gsub count", n)
local g2, n2 = ("ab"):rep(200000):gsub("a", "%0%0")
show("gsub expand", g2)
print("gsub count", n2)
show("format", string.format("%s%d%s", a, 42, b))
show("format many", string.format(("%s"):rep(3), a, b, a))

-- the results are ordinary strings: comparisons, keys, lengths
local k1 = a .. b
local k2 = a .. b
print(k1 == k2, #k1 == #a + #b, k1 < k2 .. "!")
local keys = {}
keys[k1] = 1
print(keys[k2], keys[a .. b])
print(select("#", string.byte(k1, 1, 10)), k1:find("x, x", 1, true))

-- sub, upper, lower and reverse of big strings (slices and mappings in pieces)
local m = ("aB1-"):rep(100000) .. "tail"
show("sub", m:sub(3, -3))
show("sub start", m:sub(300001))
show("sub neg", m:sub(-300000, -2))
show("upper", m:upper())
show("lower", m:lower())
show("reverse", m:reverse())
show("chain", m:upper():sub(2):reverse():lower())
print(m:sub(2, -2) == m:sub(2, #m - 1), m:reverse():reverse() == m)
