-- tostring returns a string itself (no copy), names a value by its metatable's __name
-- however long (a long one is joined in pieces), and error messages quote long __names
-- and identifiers whole.
local big = ("s"):rep(400000)
print(rawequal(tostring(big), big), #tostring(big), select("#", tostring(big)))
local t = setmetatable({}, {__name = ("n"):rep(300000) .. "!"})
local s = tostring(t)
print(#s:gsub("0x%x+", "ID"), s:sub(1, 3), s:match("(n!: )0x%x+$"))
local ok, e = pcall(function() return t + 1 end)
print(ok, #e, e:sub(-40))
ok, e = pcall(function() return t < t end)
print(ok, #e, e:sub(1, 40), e:sub(-10))
ok, e = pcall(string.rep, t)
print(ok, #e, e:sub(1, 50), e:sub(-12))
local u = setmetatable({}, {__name = "Point"})
print((tostring(u):gsub("0x%x+", "ID")), pcall(string.rep, u))
local id = ("v"):rep(300000)
ok, e = pcall(load("local " .. id .. " = 1 return #" .. id))
print(ok, #e, e:sub(1, 60), e:sub(-12))
