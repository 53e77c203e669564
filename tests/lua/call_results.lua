-- Calls and returns through the interpreter's fast paths: result counts adjusted to what
-- the caller wants (more values than the callee has registers), deep recursion, frames
-- switched without leaving the instruction loop.
local function one() return 1 end
local function none() return end
local function two() return 1, 2 end

local a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19,
  a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30, a31, a32, a33, a34, a35, a36, a37,
  a38, a39, a40 = one()
print(a1, a2, a20, a40)
local b1, b2, b3, b4, b5, b6, b7, b8, b9, b10, b11, b12, b13, b14, b15, b16, b17, b18, b19,
  b20, b21, b22, b23, b24, b25, b26, b27, b28, b29, b30 = none()
print(b1, b2, b30)
local c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, c16, c17, c18, c19,
  c20 = two()
print(c1, c2, c3, c20)

local function fib(n)
  if n < 2 then return n end
  return fib(n - 1) + fib(n - 2)
end
print(fib(20))

local function depth(n)
  if n == 0 then return 0 end
  return 1 + depth(n - 1)
end
print(depth(10000))

-- A callee with many registers returning into a caller with few, and back.
local function wide(x)
  local l1, l2, l3, l4, l5, l6, l7, l8, l9, l10 = x, x, x, x, x, x, x, x, x, x
  return l1 + l2 + l3 + l4 + l5 + l6 + l7 + l8 + l9 + l10
end
local function narrow(x) return wide(x) + wide(x + 1) end
local s = 0
for i = 1, 100 do s = s + narrow(i) end
print(s)

-- Methods, closures, upvalues across calls.
local Acc = {}
Acc.__index = Acc
function Acc.new() return setmetatable({ n = 0 }, Acc) end
function Acc:add(k) self.n = self.n + k; return self end
local acc = Acc.new()
for i = 1, 50 do acc:add(i):add(1) end
print(acc.n)

local function counter()
  local c = 0
  return function() c = c + 1; return c end
end
local f = counter()
for _ = 1, 9 do f() end
print(f())

-- Errors in called functions still name the right frames.
local function bad() local t = nil; return t.x end
local function mid() return (bad()) end
print(pcall(mid))
print(select('#', none()), select('#', one()), select('#', two()))
