-- closures, upvalues, recursion, varargs

print("== counters and shared upvalues")
local function counter()
  local n = 0
  return function() n = n + 1; return n end
end
local c1, c2 = counter(), counter()
print(c1(), c1(), c1(), c2(), c2())

local function pair()
  local v = 0
  local function get() return v end
  local function set(x) v = x end
  return get, set
end
local get, set = pair()
print(get()); set(42); print(get())
local get2, set2 = pair()
set2(7)
print(get(), get2())

local shared = 1
local function inc() shared = shared + 1 end
inc(); inc()
print(shared)

-- upvalue of upvalue
local function outer()
  local x = 1
  return function()
    return function() x = x * 10; return x end
  end
end
local mid = outer()
local f1, f2 = mid(), mid()
print(f1(), f2(), f1())

print("== fresh variable per iteration")
local fs = {}
for i = 1, 3 do fs[i] = function() return i end end
print(fs[1](), fs[2](), fs[3]())
fs = {}
for _, v in ipairs({"a", "b", "c"}) do fs[#fs + 1] = function() return v end end
print(fs[1](), fs[2](), fs[3]())
fs = {}
local j = 1
while j <= 3 do
  local jj = j
  fs[j] = function() jj = jj + 100; return jj end
  j = j + 1
end
print(fs[1](), fs[2](), fs[3](), fs[1]())
fs = {}
local r = 0
repeat
  local rr = r
  fs[#fs + 1] = function() return rr end
  r = r + 1
until rr >= 2
print(#fs, fs[1](), fs[3]())
-- closures in the same iteration share the variable
fs = {}
for i = 1, 2 do
  local acc = i * 10
  fs[i] = {function() acc = acc + 1 end, function() return acc end}
end
fs[1][1](); fs[1][1](); fs[2][1]()
print(fs[1][2](), fs[2][2]())
-- loop variable captured after modification in body
fs = {}
for i = 1, 3 do
  local k = i
  fs[i] = function() return k end
  k = k * 100
end
print(fs[1](), fs[2](), fs[3]())

print("== recursion")
local function fact(n) if n <= 1 then return 1 end return n * fact(n - 1) end
print(fact(10), fact(20), fact(21))
local function fib(n) if n < 2 then return n end return fib(n - 1) + fib(n - 2) end
print(fib(20))
local isodd
local function iseven(n) if n == 0 then return true end return isodd(n - 1) end
function isodd(n) if n == 0 then return false end return iseven(n - 1) end
print(iseven(10), isodd(7), iseven(7))
local g = function(n) return n end
local g = function(n) if n == 0 then return "base" end return g(n - 1) end  -- refers to the previous g
print(g(5))

print("== varargs")
local function count(...) return select('#', ...) end
print(count(), count(nil), count(nil, nil), count(1, nil, 3, nil))
local function last(...) return select(-1, ...) end
print(last(1, 2, 3), last("only"))
print(select(2, "a", "b", "c"))
print(select(-2, "a", "b", "c"))
print(select(3, "a", "b", "c"), select(4, "a", "b", "c"))
print(select('#'), select(1))
local function pack(...) return {...}, select('#', ...) end
local t, n = pack(1, nil, 3, nil)
print(n, t[1], t[2], t[3], t[4])
local function mid(...) return ..., "end" end
print(mid(1, 2, 3))
local function first_only(...) return (...) end
print(first_only(7, 8, 9), first_only())
local function passthrough(...) return ... end
print(passthrough(1, 2, 3), passthrough(4, 5))
print((passthrough(1, 2, 3)))
local function tbl(...) return {..., "x"} end
local tt = tbl(1, 2, 3)
print(#tt, tt[1], tt[2])
local function tbl2(...) return {"x", ...} end
tt = tbl2(1, 2, 3)
print(#tt, tt[4])
local function va_in_middle(...) return print(..., "|", ...) end
va_in_middle(1, 2)
local function locals_from_va(...)
  local a, b, c = ...
  return a, b, c
end
print(locals_from_va(1), locals_from_va(1, 2, 3, 4))
local function va_arith(...) local a, b = ...; return a + b end
print(va_arith(3, 4))
local function va_closure(...)
  local args = {...}
  local n2 = select('#', ...)
  return function() return n2, args[1] end
end
print(va_closure("q", "r")())
print(pcall(select, 0, 1))
print(pcall(select, -3, 1, 2))
print(pcall(select, "x"))
print(select(-1, 1, 2, 3), select(-3, 1, 2, 3))
local function big_va(...) return select('#', ...) end
local src = "return big_va("
for i = 1, 200 do src = src .. i .. (i < 200 and "," or ")") end
print(load(src, "=big", "t", {big_va = big_va})())
local function sum(...)
  local s = 0
  for i = 1, select('#', ...) do s = s + (select(i, ...)) end
  return s
end
print(sum(1, 2, 3, 4, 5), sum())

print("== functions are values")
local ops = {add = function(a, b) return a + b end, mul = function(a, b) return a * b end}
print(ops.add(2, 3), ops["mul"](2, 3))
local function compose(f, g2) return function(...) return f(g2(...)) end end
print(compose(function(x) return x * 2 end, function(a, b) return a + b end)(3, 4))
local function curry(f) return function(a) return function(b) return f(a, b) end end end
print(curry(ops.add)(10)(20))
print(type(print), type(counter), (function(...) return select('#', ...) end)(1, 2, 3))
