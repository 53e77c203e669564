local wk = setmetatable({}, {__mode = "k"})
for i = 1, 10 do local k = {} wk[k] = {k} end
local keep = {} wk[keep] = {keep, "x"}
local chain1, chain2 = {}, {}
wk[chain1] = chain2   -- value is a key too
wk[chain2] = "v2"
collectgarbage()
local n = 0 for k, v in pairs(wk) do n = n + 1 end
print(n)
chain1 = nil
collectgarbage()
n = 0 for k, v in pairs(wk) do n = n + 1 end
print(n)
local w = setmetatable({}, {__mode = "k"})
local keep = {}
for i = 1, 20 do keep[i] = {} w[keep[i]] = i end
for i = 1, 20 do w[{}] = -i end
local n, sum = 0, 0
for k, v in pairs(w) do
  n = n + 1 sum = sum + v
  w[k] = nil
  collectgarbage()
end
print(n, sum, next(w))
-- Long chains in both insertion orders, a key reachable only through another ephemeron
-- table's value, cycles through ephemerons, a key that is its own value.
local e1 = setmetatable({}, {__mode = "k"})
local e2 = setmetatable({}, {__mode = "k"})
local function count2()
  local n1, n2 = 0, 0
  for _ in pairs(e1) do n1 = n1 + 1 end
  for _ in pairs(e2) do n2 = n2 + 1 end
  return n1, n2
end
local function setup()
  local ks = {}
  for i = 1, 300 do ks[i] = {} end
  for i = 300, 1, -1 do e1[ks[i]] = {ks[i + 1]} end
  local fw = {}
  for i = 1, 300 do fw[i] = {} end
  for i = 1, 300 do e2[fw[i]] = {fw[i + 1]} end
  local a, b = {}, {}
  e1[a] = b
  e2[b] = {a}
  local c1, c2 = {}, {}
  e1[c1] = c2
  e1[c2] = c1
  local s = {}
  e2[s] = s
  return ks[1], fw[150], a
end
local head, mid, a = setup()
collectgarbage()
print(count2())
mid = nil
collectgarbage()
print(count2())
a = nil
collectgarbage()
print(count2())
head = nil
collectgarbage()
print(count2())
