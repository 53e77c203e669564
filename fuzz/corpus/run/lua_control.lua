-- control flow: if, while, repeat, numeric/generic for, break, goto, do

print("== if / elseif / else")
local function classify(n)
  if n < 0 then return "negative"
  elseif n == 0 then return "zero"
  elseif n < 10 then return "small"
  else return "large" end
end
print(classify(-5), classify(0), classify(3), classify(100))
if nil then print("no") elseif false then print("no") else print("else branch") end
if 0 then print("0 is true") end
if "" then print("empty string is true") end
local x = nil
if not x then print("not nil is true") end
print(1 and 2, nil and 1, false or "d", nil or false, false and nil, 1 or error("no"))
print(not nil, not 0, not not nil, 1 == 1 and "yes" or "no")

print("== while")
local i = 0
while i < 5 do i = i + 1 end
print(i)
i = 10
while i < 5 do i = i + 1 end
print(i)
local sum = 0
i = 0
while true do
  i = i + 1
  if i > 100 then break end
  sum = sum + i
end
print(sum)

print("== repeat")
i = 0
repeat i = i + 1 until i >= 3
print(i)
i = 0
repeat local j = i * 2; i = i + 1 until j >= 6   -- until sees body locals
print(i)
repeat until true
local n = 0
repeat
  n = n + 1
  if n == 2 then break end
until false
print(n)

print("== numeric for")
local out = ""
for k = 1, 5 do out = out .. k .. " " end
print(out)
out = ""
for k = 5, 1, -1 do out = out .. k .. " " end
print(out)
out = ""
for k = 1, 10, 3 do out = out .. k .. " " end
print(out)
out = ""
for k = 10, 1, -4 do out = out .. k .. " " end
print(out)
out = ""
for k = 1, 2, 0.5 do out = out .. k .. " " end
print(out)
out = ""
for k = 1.0, 3 do out = out .. k .. " " end
print(out)
out = ""
for k = 1, 3.5 do out = out .. k .. " " end
print(out)
out = ""
for k = 0.5, -1, -0.5 do out = out .. k .. " " end
print(out)
for k = 1, 0 do print("never") end
for k = 0, 1, -1 do print("never") end
out = ""
for k = 3, 3 do out = out .. k end
print(out)
out = ""
for k = 9223372036854775807 - 2, 9223372036854775807 do out = out .. k .. " " end
print(out)
out = ""
for k = -9223372036854775807 - 1, -9223372036854775807 - 1 + 2 do out = out .. k .. " " end
print(out)
out = ""
for k = -9223372036854775807 - 1 + 2, -9223372036854775807 - 1, -1 do out = out .. k .. " " end
print(out)
local c = 0
for k = 1, 10 do k = k * 2; c = c + 1 end   -- modifying the control variable copy
print(c)
c = 0
for k = 1, 1/0, 2^60 do c = c + 1; if c > 100 then break end end
print(c)
c = 0
for k = 1, 3 do
  local limit = 100
  c = c + k
end
print(c)
print(pcall(function() for k = 1, 10, 0 do end end))
print(pcall(function() for k = 1.0, 10, 0.0 do end end))
print(pcall(function() for k = "a", 10 do end end))
print(pcall(function() for k = 1, "x" do end end))
print(pcall(function() for k = 1, 10, {} do end end))
print(pcall(function() for k = nil, 10 do end end))
-- PUC 5.4 converts numeric strings in 'for' control expressions (as floats
-- unless the value is an integer limit with integer init and step)
for k = "1", 2 do print("str init", k) end
for k = 1, "2" do print("str limit", k) end
for k = 1, 2, "1" do print("str step", k) end
print(pcall(function() local t = {}; for k = 1, t.lim do end end))
c = 0
for k = 1, 3.7 do c = c + 1 end
print(c)
c = 0
for k = 3, 1.5, -1 do c = c + 1 end
print(c)
c = 0
for k = 1, -1/0 do c = c + 1 end
print(c)
c = 0
for k = 0, 9223372036854775807.0, 2^62 do c = c + 1 end  -- float limit clipped
print(c)
c = 0
for k = 1, 0/0 do c = c + 1 end
print(c)

print("== generic for")
local function range(n)
  local function iter(lim, cur)
    if cur < lim then return cur + 1 end
  end
  return iter, n, 0
end
out = ""
for v in range(4) do out = out .. v end
print(out)
local function pairs_of(t)
  return function(s, idx)
    idx = idx + 1
    if s[idx] ~= nil then return idx, s[idx], s[idx] .. "!" end
  end, t, 0
end
for idx, val, extra in pairs_of({"a", "b"}) do print(idx, val, extra) end
for k, v in ipairs({"x", "y", nil, "z"}) do print(k, v) end
for k, v in next, {"only"} do print(k, v) end
print(pcall(function() for k in 5 do end end))
print(pcall(function() for k in nil do end end))
local closed = {}
local function closing_iter()
  local cv = setmetatable({}, {__close = function() closed[#closed + 1] = "closed" end})
  local n2 = 0
  return function() n2 = n2 + 1; if n2 <= 3 then return n2 end end, nil, nil, cv
end
for v in closing_iter() do if v == 2 then break end end
print(#closed)
for v in closing_iter() do end
print(#closed)

print("== break")
for a = 1, 3 do
  for b = 1, 3 do
    if b == 2 then break end
    print(a, b)
  end
end
while true do break end
print("after while-break")

print("== goto")
for a = 1, 5 do
  if a % 2 == 0 then goto continue end
  print("odd", a)
  ::continue::
end
local k = 1
::top::
if k <= 3 then
  print("loop", k)
  k = k + 1
  goto top
end
for a = 1, 3 do
  for b = 1, 3 do
    if a * b == 4 then goto done end
  end
end
::done::
print("out of nested loops")
do
  goto skip
  print("skipped")
  ::skip::
end
do
  local q = 0
  ::again::
  q = q + 1
  if q < 5 then goto again end
  print("q", q)
end

print("== do blocks and scoping")
local v = 1
do
  local v = 2
  print(v)
  do local v = 3; print(v) end
  print(v)
end
print(v)
local s1 = 1
local s1 = s1 + 1
print(s1)
