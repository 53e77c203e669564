-- A key removed from a table (its value set to nil) does not keep its object alive: PUC's
-- traversal skips entries with a nil value (their keys are dead), whatever the table keeps
-- for `next`. Seen through weak tables and finalizers.
local w = setmetatable({}, {__mode = "k"})
local t = {}
for i = 1, 20 do t[{}] = i end -- a hash part with several entries
local obj = {}
w[obj] = true
t[obj] = 1
t[obj] = nil
obj = nil
collectgarbage()
local n = 0
for _ in pairs(w) do n = n + 1 end
print("weak entries left", n)

-- The same for a finalizer: removed from a strong table, the object is finalized.
local finalized = false
local s = {}
for i = 1, 20 do s["k" .. i] = i end
local f = setmetatable({}, {__gc = function() finalized = true end})
s[f] = "v"
s[f] = nil
f = nil
collectgarbage()
collectgarbage()
print("finalized", finalized)

-- A traversal that removes keys as it goes still visits every entry once.
local u = {}
for i = 1, 10 do u[{}] = i end
local sum, seen = 0, 0
for k, v in pairs(u) do
  u[k] = nil
  collectgarbage()
  sum = sum + v
  seen = seen + 1
end
print("traversal", seen, sum, next(u))

-- An ephemeron whose entry was removed: the value it held is collectable too.
local e = setmetatable({}, {__mode = "k"})
local key = {}
local probe = setmetatable({}, {__mode = "v"})
local value = {}
probe[1] = value
e[key] = value
e[key] = nil
value = nil
collectgarbage()
print("ephemeron value", probe[1] == nil)
