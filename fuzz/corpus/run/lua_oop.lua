-- a "real program": classes, data structures, serializer, interpreter, memoization

print("== class system")
local function class(parent)
  local c = {}
  c.__index = c
  if parent then setmetatable(c, {__index = parent}) end
  c.new = function(...)
    local o = setmetatable({}, c)
    if o.init then o:init(...) end
    return o
  end
  c.super = parent
  return c
end

local Animal = class()
function Animal:init(name, sound) self.name = name; self.sound = sound or "..." end
function Animal:speak() return self.name .. " says " .. self.sound end
function Animal:kind() return "animal" end

local Dog = class(Animal)
function Dog:init(name) Animal.init(self, name, "woof"); self.tricks = {} end
function Dog:learn(trick) self.tricks[#self.tricks + 1] = trick; return self end
function Dog:kind() return "dog (" .. Dog.super.kind(self) .. ")" end
function Dog:show()
  local s = self.name .. " knows:"
  for _, t in ipairs(self.tricks) do s = s .. " " .. t end
  return s
end

local Puppy = class(Dog)
function Puppy:speak() return Dog.speak(self) .. " (squeaky)" end

local a = Animal.new("generic")
local d = Dog.new("rex")
local p = Puppy.new("bit")
print(a:speak(), a:kind())
print(d:speak(), d:kind())
print(p:speak(), p:kind())
print(d:learn("sit"):learn("roll"):show())
print(getmetatable(p) == Puppy, p.learn == Dog.learn, rawget(p, "learn"))

print("== operator overloading")
local Vec = class()
function Vec:init(x, y) self.x, self.y = x, y end
Vec.__add = function(u, v) return Vec.new(u.x + v.x, u.y + v.y) end
Vec.__sub = function(u, v) return Vec.new(u.x - v.x, u.y - v.y) end
Vec.__mul = function(u, k)
  if type(u) == "number" then u, k = k, u end
  return Vec.new(u.x * k, u.y * k)
end
Vec.__eq = function(u, v) return u.x == v.x and u.y == v.y end
Vec.__lt = function(u, v) return u.x * u.x + u.y * u.y < v.x * v.x + v.y * v.y end
Vec.__le = function(u, v) return not (v < u) end
Vec.__tostring = function(u) return "(" .. u.x .. ", " .. u.y .. ")" end
Vec.__unm = function(u) return Vec.new(-u.x, -u.y) end
Vec.__len = function(u) return u.x * u.x + u.y * u.y end
Vec.__concat = function(u, v) return tostring(u) .. tostring(v) end
local v1, v2 = Vec.new(1, 2), Vec.new(3, 4)
print(tostring(v1 + v2), tostring(v2 - v1), tostring(v1 * 3), tostring(2 * v2), tostring(-v1))
print(v1 == Vec.new(1, 2), v1 ~= v2, v1 < v2, v2 <= v1, #v2, v1 .. v2)

print("== stack and queue")
local Stack = class()
function Stack:init() self.items, self.n = {}, 0 end
function Stack:push(...)
  for i = 1, select('#', ...) do self.n = self.n + 1; self.items[self.n] = (select(i, ...)) end
end
function Stack:pop()
  if self.n == 0 then return nil, "empty" end
  local v = self.items[self.n]
  self.items[self.n] = nil
  self.n = self.n - 1
  return v
end
local st = Stack.new()
st:push(1, 2, 3)
print(st:pop(), st:pop(), st:pop(), st:pop())

local Queue = class()
function Queue:init() self.first, self.last, self.items = 1, 0, {} end
function Queue:push(v) self.last = self.last + 1; self.items[self.last] = v end
function Queue:pop()
  if self.first > self.last then return nil end
  local v = self.items[self.first]
  self.items[self.first] = nil
  self.first = self.first + 1
  return v
end
function Queue:size() return self.last - self.first + 1 end
local q = Queue.new()
for i = 1, 5 do q:push(i * i) end
print(q:pop(), q:pop(), q:size())
q:push("x")
local drained = ""
while q:size() > 0 do drained = drained .. tostring(q:pop()) .. " " end
print(drained)

print("== serializer")
local function sort(arr, lt)
  lt = lt or function(x, y) return x < y end
  for i = 2, #arr do
    local v, j = arr[i], i - 1
    while j >= 1 and lt(v, arr[j]) do arr[j + 1] = arr[j]; j = j - 1 end
    arr[j + 1] = v
  end
  return arr
end
local function keycmp(x, y)
  local tx, ty = type(x), type(y)
  if tx ~= ty then return tx < ty end
  return x < y
end
local function serialize(v, indent)
  indent = indent or ""
  local tv = type(v)
  if tv == "string" then return '"' .. v .. '"'
  elseif tv == "number" or tv == "boolean" or tv == "nil" then return tostring(v)
  elseif tv == "table" then
    local n = #v
    local keys = {}
    for k in pairs(v) do
      if not (type(k) == "number" and k >= 1 and k <= n and k == k // 1) then keys[#keys + 1] = k end
    end
    sort(keys, keycmp)
    local out = "{"
    local sep = ""
    for i = 1, n do out = out .. sep .. serialize(v[i], indent .. "  "); sep = ", " end
    for _, k in ipairs(keys) do
      local ks = type(k) == "string" and k or "[" .. serialize(k) .. "]"
      out = out .. sep .. ks .. " = " .. serialize(v[k], indent .. "  ")
      sep = ", "
    end
    return out .. "}"
  else
    return "<" .. tv .. ">"
  end
end
print(serialize({1, 2, "three", {4, 5}, name = "test", nested = {a = true, b = false, [10] = 1.5},
                 [0.5] = "half", fn = print, list = {}}))
print(serialize("plain"), serialize(42), serialize(nil), serialize({{{}}}))

print("== tiny expression interpreter")
-- AST evaluator with environment chains and closures
local eval
local function lookup(env, name)
  while env do
    if env.vars[name] ~= nil then return env.vars[name] end
    env = env.parent
  end
  error("unbound variable " .. name, 0)
end
local ops = {
  ["+"] = function(x, y) return x + y end,
  ["-"] = function(x, y) return x - y end,
  ["*"] = function(x, y) return x * y end,
  ["<"] = function(x, y) return x < y end,
  ["=="] = function(x, y) return x == y end,
}
function eval(node, env)
  local k = node[1]
  if k == "num" then return node[2]
  elseif k == "var" then return lookup(env, node[2])
  elseif k == "bin" then return ops[node[2]](eval(node[3], env), eval(node[4], env))
  elseif k == "if" then
    if eval(node[2], env) then return eval(node[3], env) else return eval(node[4], env) end
  elseif k == "let" then
    local e2 = {vars = {}, parent = env}
    e2.vars[node[2]] = eval(node[3], env)
    return eval(node[4], e2)
  elseif k == "fn" then
    return {params = node[2], body = node[3], env = env}
  elseif k == "letrec" then
    local e2 = {vars = {}, parent = env}
    e2.vars[node[2]] = eval(node[3], e2)
    return eval(node[4], e2)
  elseif k == "call" then
    local f = eval(node[2], env)
    local e2 = {vars = {}, parent = f.env}
    for i, pname in ipairs(f.params) do e2.vars[pname] = eval(node[2 + i], env) end
    return eval(f.body, e2)
  end
  error("bad node " .. tostring(k), 0)
end
local N = function(n) return {"num", n} end
local V = function(n) return {"var", n} end
local B = function(op, x, y) return {"bin", op, x, y} end
local fact_prog = {"letrec", "fact",
  {"fn", {"n"}, {"if", B("<", V("n"), N(2)), N(1), B("*", V("n"), {"call", V("fact"), B("-", V("n"), N(1))})}},
  {"call", V("fact"), N(15)}}
print(eval(fact_prog, nil))
local adder = {"let", "make", {"fn", {"x"}, {"fn", {"y"}, B("+", V("x"), V("y"))}},
  {"let", "add5", {"call", V("make"), N(5)}, {"call", V("add5"), N(37)}}}
print(eval(adder, nil))
print(pcall(eval, {"var", "nope"}, nil))
print(pcall(eval, {"bogus"}, nil))

print("== memoization")
local calls = 0
local function memoize(f)
  local cache = {}
  return function(n)
    local v = cache[n]
    if v == nil then v = f(n); cache[n] = v end
    return v
  end
end
local mfib
mfib = memoize(function(n) calls = calls + 1; if n < 2 then return n end return mfib(n - 1) + mfib(n - 2) end)
print(mfib(80), calls)
print(mfib(90), calls)
-- weak-free cache keyed by tables
local area_calls = 0
local area = memoize(function(r) area_calls = area_calls + 1; return r.w * r.h end)
local r1 = {w = 3, h = 4}
print(area(r1), area(r1), area({w = 3, h = 4}), area_calls)

print("== event system with closures")
local Emitter = class()
function Emitter:init() self.handlers = {} end
function Emitter:on(ev, fn)
  local list = self.handlers[ev] or {}
  self.handlers[ev] = list
  list[#list + 1] = fn
  return function()
    for i = #list, 1, -1 do if list[i] == fn then list[i] = nil end end
  end
end
function Emitter:emit(ev, ...)
  local list = self.handlers[ev]
  if not list then return 0 end
  local n = 0
  for i = 1, #list do list[i](...); n = n + 1 end
  return n
end
local em = Emitter.new()
local total = 0
em:on("add", function(x) total = total + x end)
local off = em:on("add", function(x) total = total + 10 * x end)
print(em:emit("add", 1), total)
off()
print(em:emit("add", 2), total, em:emit("none"))
