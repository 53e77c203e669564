-- Nested C-level calls (metamethods, Rust/C functions calling back into Lua) end with
-- "C stack overflow" at PUC's depth (LUAI_MAXCCALLS = 200, the main chunk's call first).
local depth = 0
local t = setmetatable({}, {__index = function(t, k) depth = depth + 1; return t[k] end})
print(pcall(function() return t.x end))
print("__index levels", depth)

-- pcall at the limit catches its own call's error.
local n = 0
local function p() n = n + 1; return pcall(p) end
print(select("#", p()), n)
local function deep() local ok, e = pcall(deep); if not ok then return e end return e end
print(deep())

n = 0
local mt = {}
mt.__tostring = function(x) n = n + 1; return tostring(x) end
print(pcall(tostring, setmetatable({}, mt)))
print("__tostring levels", n)

n = 0
local function cmp(a, b) n = n + 1; table.sort({3, 2, 1}, cmp); return a < b end
print(pcall(table.sort, {3, 2, 1}, cmp))
print("comparator levels", n)

n = 0
local amt = {}
amt.__add = function(a, b) n = n + 1; return a + b end
print(pcall(function() return setmetatable({}, amt) + 1 end))
print("__add levels", n)

n = 0
local function g(s) n = n + 1; return (string.gsub("a", "a", g)) end
print(pcall(g, "a"))
print("gsub levels", n)

n = 0
local emt = {}
emt.__eq = function(a, b) n = n + 1; return a == setmetatable({}, emt) end
print(pcall(function() return setmetatable({}, emt) == setmetatable({}, emt) end))
print("__eq levels", n)

-- xpcall's handler sees the message; the VM is usable afterwards.
print(select(2, xpcall(function() return t.y end, function(m) return "handled: " .. m end)))
depth = 0
local ok = pcall(function() return t.z end)
print(ok, depth)
-- Deep recursion of Lua functions alone is bounded by the Lua stack, not by this limit.
local function count(k) if k == 0 then return 0 end return 1 + count(k - 1) end
print(count(10000))
