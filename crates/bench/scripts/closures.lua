-- Closures and upvalues: creation in loops, shared upvalues, higher-order functions.
local function make_counter()
  local count = 0
  return function(by)
    count = count + by
    return count
  end
end

local function make_pair()
  local v = 0
  local function get() return v end
  local function set(x) v = x end
  return get, set
end

local function map(t, f)
  local r = {}
  for i = 1, #t do r[i] = f(t[i]) end
  return r
end

local function fold(t, f, acc)
  for i = 1, #t do acc = f(acc, t[i]) end
  return acc
end

local function compose(f, g)
  return function(x) return f(g(x)) end
end

local checksum = 0
for round = 1, 250 do
  local counters = {}
  for i = 1, 1000 do counters[i] = make_counter() end
  for rep = 1, 10 do
    for i = 1, #counters do checksum = checksum + counters[i](rep) % 13 end
  end
  local get, set = make_pair()
  for i = 1, 5000 do set(get() + i) end
  checksum = checksum + get() % 1000

  local data = {}
  for i = 1, 2000 do data[i] = i end
  local k = round
  local add_k = function(x) return x + k end
  local double = function(x) return x * 2 end
  local mapped = map(data, compose(add_k, double))
  checksum = checksum + fold(mapped, function(a, b) return a + b end, 0) % 100003
end
print(checksum)
