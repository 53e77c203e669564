-- tables: constructors, length, raw access, keys normalization, errors

local function show(t, n)
  local parts = ""
  for i = 1, n do parts = parts .. tostring(t[i]) .. (i < n and "," or "") end
  return "{" .. parts .. "}"
end

print("== constructors")
local t = {1, 2, 3}
print(#t, t[1], t[3], t[4])
t = {10, 20, 30,}
print(#t, show(t, 3))
t = {1; 2; 3;}
print(#t, show(t, 3))
t = {x = 1, y = 2; "a", "b", [10] = "ten", ["key with space"] = true, [1 + 1] = "ignored?"}
print(t.x, t.y, t[1], t[2], t[10], t["key with space"], #t)
-- positional items are stored after the keyed ones (PUC stores them with SETLIST)
t = {[1] = "first", "positional"}
print(t[1])
t = {"positional", [1] = "explicit"}
print(t[1])
t = {}
print(#t, next(t))
t = {{1, 2}, {3, {4, 5}}}
print(t[1][2], t[2][2][1], #t[2][2])
local function three() return 1, 2, 3 end
t = {three()}
print(#t, show(t, 3))
t = {three(), three()}
print(#t, show(t, 4))
t = {three(), 10}
print(#t, show(t, 2))
t = {(three())}
print(#t)
t = {three(), nil}
print(#t)
t = {x = three()}
print(t.x)
local function none() end
t = {none(), none()}
print(#t, t[1], t[2])
t = {none(), 5}
print(t[1], t[2])
local k = "dyn"
t = {[k] = 1, [k .. "2"] = 2, [3.0] = "three", [2^53] = "big"}
print(t.dyn, t.dyn2, t[3], t[2^53 | 0], t[9007199254740992])

print("== length border on sequences")
t = {}
for i = 1, 100 do t[i] = i * i end
print(#t, t[#t])
t[#t] = nil
print(#t)
t[#t + 1] = "x"
print(#t, t[100])
t = {n = 3}
print(#t)
t = {1, 2, 3, nil}
print(#t)
t = {nil, nil, 3}
print(#t == 3 or #t == 0)
t = {"a"}
t[2] = "b"; t[3] = "c"
print(#t)
for i = 3, 1, -1 do t[i] = nil; print(#t) end

print("== rawlen / rawget / rawset")
t = {1, 2, 3, x = 4}
print(rawlen(t), rawlen("abcd"), rawget(t, 1), rawget(t, "x"), rawget(t, "y"))
print(rawset(t, "y", 5) == t, t.y, rawget(t, 1.0))
print(pcall(rawlen, 5))
print(pcall(rawget, "str", 1))
print(pcall(rawset, t, nil, 1))
print(pcall(rawset, t, 0/0, 1))
print(pcall(rawget, t))
print(rawget(t, nil), rawget(t, 0/0))

print("== next over array")
t = {"a", "b", "c"}
local k2, v2 = next(t)
local count = 0
while k2 do
  count = count + 1
  print(k2, v2)
  k2, v2 = next(t, k2)
end
print(count, next({}, nil), next(t, 3))
print(pcall(next, t, "nokey"))
print(pcall(next, t, 4))

print("== key normalization")
t = {}
t[1.0] = "one"
print(t[1], rawget(t, 1))
t[2] = "two"
print(t[2.0])
t[2^53] = "p53"
print(t[9007199254740992], t[2^53])
t[-0.0] = "zero"
print(t[0], t[0.0])
t[0.5] = "half"
print(t[0.5], t[1/2])
local cnt = 0
for kk in pairs(t) do cnt = cnt + 1 end
print("keys:", cnt)
t = {}
t[1] = 1; t[1.0] = 2
print(t[1], #t)

print("== nil and NaN index errors")
t = {}
print(pcall(function() t[nil] = 1 end))
print(pcall(function() t[0/0] = 1 end))
print(t[nil], t[0/0])
print(pcall(function() local x = {[nil] = 1} end))
print(pcall(function() local nan = 0/0; local x = {[nan] = 1} end))
t.x = nil
print(t.x)

print("== other key types")
t = {}
local f = function() end
local tk = {}
t[f] = "function"; t[tk] = "table"; t[true] = "true"; t[false] = "false"
print(t[f], t[tk], t[true], t[false], t[{}])

print("== large constructors")
local src = "return {"
for i = 1, 400 do src = src .. i .. "," end
src = src .. "}"
local big = load(src)()
print(#big, big[1], big[256], big[257], big[400])
src = "return {"
for i = 1, 300 do src = src .. "'s" .. i .. "'," end
src = src .. "}"
big = load(src)()
print(#big, big[1], big[255], big[256], big[257], big[300])
src = "return {"
for i = 1, 300 do src = src .. "k" .. i .. " = " .. i * 1.5 .. "," end
src = src .. "}"
big = load(src)()
print(big.k1, big.k256, big.k257, big.k300)
src = "return {"
for i = 1, 60 do src = src .. "1, 2, 3, 4, 5, 6, 7, 8, 9, 10," end
src = src .. "...}"
big = load(src)("x", "y")
print(#big, big[600], big[601], big[602])

print("== table identity")
local a, b = {}, {}
print(a == b, a == a, rawequal(a, b), rawequal(a, a), a ~= b)
