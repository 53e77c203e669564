-- expect: ok
-- Attacks: deep metamethod recursion caught by pcall, repeatedly, then the VM must still
-- work normally (the frame and stack limits recover after the error).
local t = setmetatable({}, {__index = function(t, k) return t[k + 1] end})
for i = 1, 3 do
  local ok, e = pcall(function() return t[1] end)
  assert(not ok and tostring(e):find("stack overflow"), e)
end
local u = setmetatable({}, {__newindex = function(u, k, v) u[k + 1] = v end})
local ok, e = pcall(function() u[1] = 1 end)
assert(not ok and tostring(e):find("stack overflow"), e)
local c = setmetatable({}, {__call = function(self, n) return (self(n + 1)) end})
ok, e = pcall(c, 1)
assert(not ok and tostring(e):find("stack overflow"), e)
assert(select("#", (function(...) return ... end)(1, 2, 3)) == 3)
