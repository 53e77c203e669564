-- numeric for loops: exact iteration counts at the integer limits, float loops

local maxi = 9223372036854775807
local mini = -9223372036854775807 - 1

local function count(a, b, s)
  local n, first, last = 0, nil, nil
  if s then
    for i = a, b, s do n = n + 1; first = first or i; last = i; if n > 1000 then break end end
  else
    for i = a, b do n = n + 1; first = first or i; last = i; if n > 1000 then break end end
  end
  return n, first, last
end

print("== near maxinteger / mininteger")
print(count(maxi - 2, maxi))
print(count(maxi, maxi))
print(count(maxi - 1, maxi, 2))
print(count(maxi - 10, maxi, 3))
print(count(mini, mini + 2))
print(count(mini + 2, mini, -1))
print(count(mini, mini, -1))
print(count(mini + 5, mini, -2))
print(count(maxi, mini, -maxi))
print(count(mini, maxi, maxi))
print(count(mini, maxi, mini + 1 == -maxi and maxi or 1))
print(count(0, maxi, maxi))
print(count(maxi, 0, mini))
print(count(-1, mini, mini))
print(count(1, 0, maxi))
print(count(0, -1, mini))
print(count(maxi, maxi - 1))
print(count(mini, mini - 1))   -- mini - 1 wraps to maxi: loop from mini to maxi

print("== float limits with integer loops")
print(count(1, 3.9))
print(count(1, 2^70, 2^61 | 0))
print(count(-3, -5.5, -1))
print(count(maxi - 1, 1e100))
print(count(mini + 1, -1e100, -1))
print(count(1, -1e100))
print(count(0, 0.5))
print(count(0, -0.5))
print(count(0, -0.5, -1))
print(count(5, 0/0))
print(count(5, 1/0, 2^62 | 0))
print(count(3, 9223372036854775807.0))
print(count(maxi - 1, 9223372036854775807.0))
print(count(mini, -9223372036854775807.0 - 1e5, -1))

print("== float loops")
print(count(1, 2, 0.5))
print(count(0, 1, 0.1))
print(count(0, 1, 0.25))
print(count(1, 0, -0.1))
print(count(0.1, 0.35, 0.05))
print(count(1.0, 3))
print(count(1, 3.0, 1.0))
print(count(2^53, 2^53 + 2))
print(count(2^53 - 2.0, 2^53, 1))
print(count(1e308, 1/0, 1e308))
print(count(-1/0, 0, 1))
local sum = 0
for x = 0, 1, 0.1 do sum = sum + x end
print(sum, sum == 5.5)
local c = 0
for x = 0, 1, 0.1 do c = c + 1 end
print("iterations 0..1 step 0.1:", c)
c = 0
for x = 1, 0, -0.1 do c = c + 1 end
print("iterations 1..0 step -0.1:", c)
local last
for x = 0, 3, 0.3 do last = x end
print(last)

print("== loop variable types")
for i = 1, 2 do print(i, i // 1, i / 1) end
for i = 1.0, 2 do print(i) end
for i = 1, 2, 1.0 do print(i) end
for i = 3, 1, -1.5 do print(i) end

print("== step errors")
print(pcall(count, 1, 10, 0))
print(pcall(count, 1, 10, 0.0))
print(pcall(count, 1, 10, -0.0))
print(pcall(count, 1.5, 10, 0))
print(pcall(count, 1, {}))
print(pcall(count, "x", 1))
print(pcall(count, 1, 2, "y"))
