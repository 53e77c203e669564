-- string library: len, sub, byte, char, rep, reverse, lower, upper, dump, metatable
local function show(...)
  local n = select("#", ...)
  local out = ""
  for i = 1, n do
    local v = select(i, ...)
    out = out .. (i > 1 and " " or "") .. (type(v) == "string" and string.format("%q", v) or tostring(v))
  end
  print(n, out)
end
local function err(f, ...) print(select(2, pcall(f, ...))) end

print(type(string), getmetatable("").__index == string)
print(string.len(""), string.len("abc"), string.len("a\0b"), string.len(12.5), #"xyz")
print(("abc"):len(), ("x"):rep(3), ("%d"):format(7))
err(function() return string.len() end)
err(function() return string.len({}) end)

-- sub
local s = "hello world"
for _, ij in ipairs({{1}, {3}, {-3}, {0}, {-100}, {100}, {1, 5}, {3, -3}, {-5, -2}, {5, 3},
  {0, 0}, {1, 0}, {-100, 2}, {2, 100}, {12}, {11}, {9223372036854775807}, {-9223372036854775807 - 1},
  {1, -9223372036854775807 - 1}, {1, 9223372036854775807}}) do
  show(string.sub(s, ij[1], ij[2]))
end
show(string.sub("", 1), string.sub("", 0, -1), s:sub(2.0, 3))
err(function() return string.sub("abc") end)
err(function() return string.sub("abc", 1.5) end)
err(function() return string.sub("abc", "x") end)
err(function() return string.sub("abc", 1, {}) end)
show(string.sub(12345, 2, 3), string.sub("abc", "2"))

-- byte / char
show(string.byte("ABC"))
show(string.byte("ABC", 2))
show(string.byte("ABC", 1, -1))
show(string.byte("ABC", -2, 10))
show(string.byte("ABC", 0, 0))
show(string.byte("ABC", 3, 2))
show(string.byte(""))
show(string.byte("\0\255", 1, 2))
show(string.char())
show(string.char(72, 105, 0, 255))
show(string.char("65", 66.0))
err(function() return string.char(256) end)
err(function() return string.char(65, -1) end)
err(function() return string.char(65, 1.5) end)
err(function() return string.char(65, "x") end)
err(function() return ("x"):char(1) end)

-- rep
show(string.rep("ab", 3), string.rep("ab", 3, ","), string.rep("x", 0), string.rep("x", -5))
show(string.rep("", 1000000), string.rep("a", 1, "SEP"), string.rep("", 3, "-"))
show(#string.rep("abc", 1000), #string.rep("abc", 1000, "--"))
err(function() return string.rep("x", 1 << 40) end)
err(function() return string.rep("x", 9223372036854775807, "y") end)
err(function() return string.rep("xx", 1 << 30) end)
err(function() return string.rep("x") end)
err(function() return string.rep("x", 2.5) end)
show(string.rep(5, 2), ("ab"):rep(2, 0))

-- reverse / lower / upper
show(string.reverse("abc"), string.reverse(""), string.reverse("a\0b"), string.reverse(123))
show(string.lower("HeLLo 123 ÀB"), string.upper("HeLLo 123 àb"), string.upper(1.5))
err(function() return string.upper() end)
err(function() return string.lower(nil) end)
err(function() return string.reverse(true) end)

-- dump
err(function() return string.dump(print) end)
-- (PUC can dump Lua functions; lunette has no binary chunks, so that case is not tested)
err(function() return string.dump() end)
err(function() return string.dump("x") end)

-- method calls and the metatable
local mt = getmetatable("")
print(type(mt), rawequal(mt.__index, string))
print(("abc"):upper(), ("%5s|"):format("x"), ("hello"):find("l"), ("x"):byte())
err(function() return ("abc"):sub() end)
err(function() return ("abc"):rep({}) end)
err(function() return ("abc"):nosuch() end)
string.custom = function(self) return "custom:" .. self end
print(("s"):custom())
string.custom = nil
print(#"" == 0, ("x").len == string.len)
-- strings are coerced in arithmetic by the VM, not by string metamethods
print("10" + 1, "3" * "4", 10 .. "")
print(#string.rep("ab", 5, ""), string.rep("", 100000, "") == "")
