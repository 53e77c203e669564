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
