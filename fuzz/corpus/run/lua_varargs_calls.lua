-- multiple assignment, multiple returns, tail calls, method calls

print("== multiple assignment")
local a, b, c = 1, 2
print(a, b, c)
a, b = b, a
print(a, b)
local x, y, z = (function() return 1, 2, 3 end)()
print(x, y, z)
x, y, z = 0, (function() return 1, 2, 3 end)()
print(x, y, z)
x, y, z = (function() return 1, 2, 3 end)(), 10
print(x, y, z)
x, y = 1, 2, print("extra expression is evaluated")
print(x, y)
local t = {10, 20, 30}
local i, j = 1, 3
t[i], t[j] = t[j], t[i]
print(t[1], t[2], t[3])
-- PUC evaluates all right-hand sides and left-hand table/key operands before assigning
i = 1
i, t[i] = i + 1, "assigned"
print(i, t[1], t[2])
t = {}
local k = 1
t[k], k = "first", 2
print(t[1], t[2], k)
local tt = {}
local u = tt
u, u.field = {}, "set on old table"
print(tt.field, u.field)
-- assigning the same variable twice: PUC assigns from right to left
local d
d, d = 1, 2
print(d)
local gt = {}
gt.x, gt.x = "left", "right"
print(gt.x)
-- function call results adjusted to one value in the middle
local function mr() return "m1", "m2" end
local p1, p2, p3, p4 = mr(), mr()
print(p1, p2, p3, p4)
p1, p2, p3 = (mr())
print(p1, p2, p3)

print("== multiple returns in all positions")
local function three() return 1, 2, 3 end
local function none() end
print(three())
print(three(), "x")
print("x", three())
print((three()))
print(three(), three())
print(({three()})[3], #{three(), three()}, #{three(), (three())})
print(none())
print(none(), "after none")
print("before", none())
print(select('#', none()), select('#', none(), none()), select('#', (none())))
local function passthrough(...) return ... end
print(passthrough(three()))
print(passthrough(three(), three()))
local r = {passthrough()}
print(#r)
print((passthrough(nil, 2)))
local s = "" .. (three()) .. (three())
print(s)
print(#{none()}, #{nil}, #{(none())})
-- return f() forwards all results; return (f()) only one
local function fwd() return three() end
local function fwd1() return (three()) end
print(fwd())
print(fwd1())
-- results as arguments to a method
local obj = {collect = function(self, ...) return select('#', ...), ... end}
print(obj:collect(three()))
print(obj:collect(three(), three()))
print(obj:collect(none()))

print("== tail calls")
local function count_down(n)
  if n == 0 then return "landed" end
  return count_down(n - 1)
end
print(count_down(100000))
local function even(n) if n == 0 then return true end return odd(n - 1) end
function odd(n) if n == 0 then return false end return even(n - 1) end
print(even(100001), odd(100001))
local function acc(n, sum)
  if n == 0 then return sum end
  return acc(n - 1, sum + n)
end
print(acc(200000, 0))
-- tail call through a metamethod-less callable table
local tcall = setmetatable({}, {__call = function(self, n) if n == 0 then return "callable done" end return self(n - 1) end})
print(tcall(50000))
-- tail call with varargs
local function va_tail(n, ...)
  if n == 0 then return select('#', ...), ... end
  return va_tail(n - 1, ...)
end
print(va_tail(10000, "a", nil, "c"))
-- non-tail recursion depth that is fine
local function depth(n) if n == 0 then return 0 end return 1 + depth(n - 1) end
print(depth(10000))

print("== method calls on call results")
local Obj = {}
Obj.__index = Obj
function Obj.new(v) return setmetatable({v = v}, Obj) end
function Obj:get() return self.v end
function Obj:add(n) return Obj.new(self.v + n) end
print(Obj.new(1):add(2):add(3):get())
local function make() return Obj.new(42) end
print(make():get(), (make()):get())
local holder = {inner = {obj = Obj.new("deep")}}
print(holder.inner.obj:get(), holder["inner"]["obj"]:get())
print(Obj.new(5).get(Obj.new(6)))
local str_key = "get"
print(Obj.new(7)[str_key](Obj.new(8)))

print("== call syntax variants")
local function show(...) return select('#', ...), ... end
print(show"literal")
print(show[[long literal]])
print(show{1, 2} == 1, type(select(2, show{1, 2})))
local o = {m = function(self, arg) return type(self), type(arg) end}
print(o:m"str")
print(o:m{})
print(type(show{}))
local chain = function(x) return function(y) return function(z) return x .. y .. z end end end
print(chain"a""b""c")
print(chain("a")("b")("c"))

print("== evaluation order of arguments and operands")
local log = ""
local function L(v) log = log .. v; return v end
local function f3(...) return ... end
f3(L(1), L(2), L(3))
print(log)
log = ""
local _ = L(1) + L(2) * L(3)
print(log)
log = ""
local tab = {[L("k")] = L("v"), L("p"), L("q")}
print(log)
log = ""
local target = {}
target[L("a")], target[L("b")] = L("x"), L("y")
print(log, target.a, target.b)
log = ""
_ = L("c1") .. L("c2") .. L("c3")
print(log)
