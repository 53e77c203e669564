-- Field accesses (`t.name`, `t.name = v`, globals, `obj:method()`) through the same
-- instructions on tables whose keys sit at different positions, move, vanish and come back.

local function geta(x) return x.a end
local function seta(x, v) x.a = v end

local t = { a = 1, b = 2, c = 3 }
print(geta(t), geta({ b = 1, a = 2 }), geta({ z = 0 }), geta({}))
t.a = nil          -- a tombstone where `a` was
print(geta(t))
t.d = 4            -- may take the free position `a` left
print(geta(t), t.d)
t.a = 5            -- `a` again, elsewhere
print(geta(t), t.d, t.b, t.c)
seta(t, 6)
print(geta(t))
seta(t, nil)
print(geta(t), rawget(t, "a"))
seta(t, 7)         -- a new key through the store path
print(geta(t))

-- Alternating layouts through one instruction, gets and sets.
local shapes = {}
for i = 1, 12 do
  local s = {}
  for j = 1, i % 5 do s["f" .. j] = j end
  s.a = i
  shapes[i] = s
end
local sum = 0
for round = 1, 3 do
  for i = 1, #shapes do
    sum = sum + geta(shapes[i])
    seta(shapes[i], geta(shapes[i]) + 1)
  end
end
print(sum, geta(shapes[12]))

-- Big (indexed) parts, keys removed and re-added.
local big = {}
for i = 1, 100 do big["k" .. i] = i end
big.a = "big"
print(geta(big))
for i = 1, 100, 2 do big["k" .. i] = nil end
print(geta(big))
big.a = nil
for i = 1, 100, 2 do big["k" .. i] = -i end
print(geta(big), big.k99, big.k100)
seta(big, "again")
print(geta(big))

-- Field names longer than the interned strings: equal content, other objects.
local function getlong(x) return x.kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk end
local function setlong(x, v) x.kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk = v end
local name = string.rep("k", 56)
local l = { [name] = "long", x = 1 }
print(getlong(l), getlong({ [string.rep("k", 55) .. "k"] = "made" }))
setlong(l, "set")
print(l[name], getlong(l))

-- Globals and methods.
counter = 0
local function bump() counter = counter + 1 end
for _ = 1, 5 do bump() end
_G.counter = nil
print(counter)
bump = nil
counter = 10
print(counter)
local Class = {}
Class.__index = Class
function Class:get() return self.v end
local objs = { setmetatable({ v = 1 }, Class), setmetatable({ w = 0, v = 2 }, Class) }
function objs.get() return "own" end
local out = {}
for i = 1, 2 do out[#out + 1] = objs[i]:get() end
objs[1].get = function() return "shadow" end
for i = 1, 2 do out[#out + 1] = objs[i]:get() end
print(table.concat(out, " "))

-- Weak tables leave holes where collected keys were.
local weak = setmetatable({}, { __mode = "k" })
for i = 1, 10 do weak[{}] = i end
weak.a = "weak"
collectgarbage()
print(geta(weak))
weak.b = 1
print(geta(weak), weak.b)
