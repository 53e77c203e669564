-- Lua 5.4 removed the '__le' fallback to 'not (b < a)' using '__lt'.
-- NOTE: the Debian/Ubuntu lua5.4 binary used to produce this corpus is built
-- with LUA_COMPAT_5_3 (which enables LUA_COMPAT_LT_LE), so it prints
-- "true false" for the first pcall.  le_no_lt_fallback.out was HAND-EDITED to
-- the behaviour of a default build (what the 5.4 manual specifies):
-- "attempt to compare two table values".  Do not regenerate it blindly.
local LTONLY = {__lt = function(x, y) return true end}
local l1, l2 = setmetatable({}, LTONLY), setmetatable({}, LTONLY)
print(l1 < l2, l1 > l2)
print(pcall(function() return l1 <= l2 end))
print(pcall(function() return l1 >= l2 end))
local LEONLY = {__le = function(x, y) return false end}
local e1, e2 = setmetatable({}, LEONLY), setmetatable({}, LEONLY)
print(e1 <= e2, e1 >= e2)
print(pcall(function() return e1 < e2 end))
