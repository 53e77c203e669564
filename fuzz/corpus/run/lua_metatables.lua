-- metatables and metamethods

local log = {}
local function L(s) log[#log + 1] = s end

print("== arithmetic metamethods")
local V = {}
V.__index = V
local function vec(x) return setmetatable({x = x}, V) end
local function val(a) if type(a) == "table" then return a.x end return a end
for _, ev in ipairs({"add", "sub", "mul", "div", "mod", "pow", "idiv",
                     "band", "bor", "bxor", "shl", "shr", "concat"}) do
  V["__" .. ev] = function(a, b) return ev .. "(" .. tostring(val(a)) .. "," .. tostring(val(b)) .. ")" end
end
V.__unm = function(a, b) return "unm(" .. val(a) .. "," .. tostring(val(b)) .. ")" end
V.__bnot = function(a, b) return "bnot(" .. val(a) .. "," .. tostring(val(b)) .. ")" end
local a, b = vec(1), vec(2)
print(a + b, a - 3, 4 * a, a / b, a % 2, 2 ^ a)
print(a // b, a & 1, 1 | a, a ~ b, a << 1, 1 >> a)
print(a .. "s", "s" .. a, a .. b, 1 .. a, -a, ~a)
print(a + 1.5, "str" + a, a & 1.5, 2.5 | a, "x" << a)
print("a" .. "b" .. a .. "c")   -- right assoc: "a" .. ("b" .. (a .. "c"))

-- metamethod from the second operand only
local R = setmetatable({}, {__add = function(x, y) return "right" end})
print(1 + R, R + 1, {} + R)
-- first operand's metamethod takes precedence
local A1 = setmetatable({}, {__add = function() return "A1" end})
local A2 = setmetatable({}, {__add = function() return "A2" end})
print(A1 + A2, A2 + A1)
-- bitwise ops on floats without integer value try metamethods
local BW = setmetatable({}, {__bor = function(x, y) return "bor called" end})
print(1.5 | BW, BW | 1.5)
print(pcall(function() return 1.5 | 2 end))
print(pcall(function() return {} + 1 end))
print(pcall(function() return setmetatable({}, {}) .. "x" end))

print("== __eq")
local eqcalls = 0
local EQ = {__eq = function(x, y) eqcalls = eqcalls + 1; return x.id == y.id and "truthy" end}
local e1 = setmetatable({id = 1}, EQ)
local e2 = setmetatable({id = 1}, EQ)
local e3 = setmetatable({id = 2}, EQ)
print(e1 == e2, e1 == e3, e1 ~= e2, e1 ~= e3, eqcalls)
print(e1 == e1, eqcalls)                -- same object: no call
print(e1 == 1, 1 == e1, e1 == "x", eqcalls)     -- different types: no call
local plain = {id = 1}
print(e1 == plain, plain == e1, eqcalls)   -- only one has __eq: it is used
print(rawequal(e1, e2))
local EQN = {__eq = function() return nil end}
print(setmetatable({}, EQN) == setmetatable({}, EQN))

print("== __lt / __le")
local C = {}
C.__lt = function(x, y) L("lt"); return val(x) < val(y) end
C.__le = function(x, y) L("le"); return val(x) <= val(y) end
local function cmp(x) return setmetatable({x = x}, C) end
local c1, c2 = cmp(1), cmp(2)
val = function(q) if type(q) == "table" then return q.x end return q end
print(c1 < c2, c1 > c2, c1 <= c2, c1 >= c2, c1 < 5, 0 < c1, c1 <= 1)
local LTONLY = {__lt = function(x, y) return true end}
local l1, l2 = setmetatable({}, LTONLY), setmetatable({}, LTONLY)
print(l1 < l2, l1 > l2)
-- (l1 <= l2 with only __lt is tested in le_no_lt_fallback.lua)
local R2 = {__lt = function() return 1 end, __le = function() return nil end}
local r1 = setmetatable({}, R2)
print(r1 < r1, r1 <= r1, r1 > r1, r1 >= r1)
print(pcall(function() return {} < {} end))
print(pcall(function() return {} <= 1 end))
print(pcall(function() return "a" < setmetatable({}, {__lt = function(p, q) return "mixed" end}) end))

print("== __len")
local LEN = setmetatable({1, 2, 3}, {__len = function(t) return "len!" end})
print(#LEN, rawlen(LEN))
print(#setmetatable({}, {__len = function() return 1, 2 end}))
print(pcall(function() return #setmetatable({}, {__len = function() error("in len") end}) end))

print("== unary metamethods receive the operand twice")
print(-setmetatable({}, {__unm = function(x, y) return rawequal(x, y) end}))

print("== __index")
local base = {inherited = "from base", shadowed = "base"}
local obj = setmetatable({shadowed = "own"}, {__index = base})
print(obj.inherited, obj.shadowed, obj.missing, rawget(obj, "inherited"))
local chain3 = setmetatable({}, {__index = setmetatable({}, {__index = setmetatable({}, {__index = {deep = "deep value"}})})})
print(chain3.deep, chain3.nope)
local calls = 0
local fidx = setmetatable({}, {__index = function(t, k) calls = calls + 1; return tostring(k) .. "?" end})
print(fidx.abc, fidx[1], fidx[true], calls)
local mixed = setmetatable({}, {__index = setmetatable({}, {__index = function(t, k) return "fn:" .. k end})})
print(mixed.zz)
local with_false = setmetatable({present = false}, {__index = function() return "should not see" end})
print(with_false.present)
print(pcall(function() return setmetatable({}, {__index = 5}).x end))
print(pcall(function() local t = setmetatable({}, {__index = function(t, k) error("no field " .. k) end}); return t.foo end))

print("== __newindex")
local store = {}
local proxy = setmetatable({}, {__newindex = store})
proxy.a = 1
print(rawget(proxy, "a"), store.a)
local nlog = {}
local np = setmetatable({existing = 1}, {__newindex = function(t, k, v) nlog[#nlog + 1] = k .. "=" .. tostring(v); rawset(t, k, v * 2) end})
np.existing = 10
np.new = 5
np.new = 7
print(np.existing, np.new, #nlog, nlog[1])
local deepstore = {}
local nchain = setmetatable({}, {__newindex = setmetatable({}, {__newindex = deepstore})})
nchain.k = "v"
print(rawget(nchain, "k"), deepstore.k)
print(pcall(function() setmetatable({}, {__newindex = 5}).x = 1 end))
local ro = setmetatable({}, {__newindex = function(t, k) error("read-only table, key " .. k, 2) end})
print(pcall(function() ro.x = 1 end))
rawset(ro, "x", 1)
print(ro.x)

print("== __call")
local callable = setmetatable({}, {__call = function(self, x, y) return "called", x, y end})
print(callable(1, 2))
print(callable())
local inner
inner = setmetatable({}, {__call = function(self, ...) return "inner", select('#', ...), rawequal(self, inner), type((...)), select(2, ...) end})
local outer = setmetatable({}, {__call = inner})
print(outer("a", "b"))
print(pcall(callable, "p"))
local obj2 = {f = callable}
print(obj2.f("x"), obj2:f("y") == "called")
print(pcall(function() local nc = setmetatable({}, {}); return nc() end))

print("== __tostring and __name")
local TS = setmetatable({}, {__tostring = function(t) return "I am TS" end})
print(TS, tostring(TS))
print(pcall(tostring, setmetatable({}, {__tostring = function() return 42 end})))
print(pcall(tostring, setmetatable({}, {__tostring = function() return {} end})))
print(tostring(setmetatable({}, {__tostring = function() return "a", "b" end})))
local named = setmetatable({}, {__name = "MyType"})
print(pcall(function() return named + 1 end))
print(pcall(function() return #named < 1, named < 1 end))
print(pcall(function() return named() end))
print(pcall(function() return named.x.y end))

print("== __metatable")
local prot = setmetatable({}, {__metatable = "locked"})
print(getmetatable(prot))
print(pcall(setmetatable, prot, {}))
print(pcall(setmetatable, prot, nil))
local prot2 = setmetatable({}, {__metatable = false})
print(getmetatable(prot2), pcall(setmetatable, prot2, {}))
local mt = {}
local plain2 = setmetatable({}, mt)
print(getmetatable(plain2) == mt, setmetatable(plain2, nil) == plain2, getmetatable(plain2))
print(getmetatable(1), getmetatable(nil), getmetatable(print), getmetatable({}))
print(getmetatable("abc") ~= nil)   -- strings have a shared metatable
print(pcall(setmetatable, {}, 5))
print(pcall(setmetatable, 5, {}))
print(pcall(setmetatable, {}))

print("== __close")
do
  local x <close> = setmetatable({}, {__close = function(o, e) print("closing x", e) end})
  print("in block")
end

print("== metamethods looked up raw, not via __index")
local meta = setmetatable({}, {__index = {__add = function() return "inherited add" end}})
print(pcall(function() return setmetatable({}, meta) + 1 end))

print("== rawget/rawset bypass")
local guarded = setmetatable({}, {__index = function() return "dflt" end, __newindex = function() error("nope") end})
rawset(guarded, "k", "raw")
print(guarded.k, rawget(guarded, "other"), guarded.other)

print("== log")
local s = ""
for i = 1, #log do s = s .. log[i] .. " " end
print(s)
