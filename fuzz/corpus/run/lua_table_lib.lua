-- table library on plain tables: insert, remove, concat, pack, unpack, move
local function dump(t, n)
  local out = {}
  for i = 1, n or #t do out[#out + 1] = tostring(t[i]) end
  return "{" .. table.concat(out, ",") .. "}"
end

-- insert
local t = {}
table.insert(t, "a")
table.insert(t, "b")
table.insert(t, 1, "c")
table.insert(t, 2, "d")
table.insert(t, #t + 1, "e")
print(dump(t), #t)
table.insert(t, 3.0, "f")
print(dump(t))
print(table.insert(t, "g"))
local function err(...) print(select(2, pcall(...))) end
err(table.insert, {}, 1, 2, 3)
err(table.insert, {})
err(table.insert, {1, 2, 3}, 0, "x")
err(table.insert, {1, 2, 3}, 5, "x")
err(table.insert, {1, 2, 3}, -1, "x")
err(table.insert, {1, 2, 3}, 1.5, "x")
err(table.insert, {1, 2, 3}, "x", "x")
err(table.insert, nil, 1)
err(table.insert, "abc", 1)
print(pcall(function() table.insert({}, 1, 2, 3) end))
print(pcall(function() table.insert({}, 9, 2) end))
local h = {1, 2, 3}
table.insert(h, 4, nil)
print(dump(h, 4), #h)

-- remove
t = {10, 20, 30, 40, 50}
print(table.remove(t), dump(t))
print(table.remove(t, 1), dump(t))
print(table.remove(t, 2), dump(t))
print(table.remove(t, #t + 1), dump(t))
print(table.remove({}), table.remove({}, 0), table.remove({}, 1))
print(select("#", table.remove({})))
local z = {[0] = "zero"}
print(table.remove(z, 0), z[0])
err(table.remove, {1, 2, 3}, 5)
err(table.remove, {1, 2, 3}, -1)
err(table.remove, {}, 2)
err(table.remove, {1}, "x")
err(table.remove)
local r = {n = 1, "x", "y"}
print(table.remove(r, 1), r[1], r[2], r.n)

-- concat
print(table.concat({}), table.concat({}, "x"), table.concat({1, 2, 3}))
print(table.concat({1, 2.5, "x", -0.0, 2^63}, ", "))
print(table.concat({"a", "b", "c"}, "-", 2), table.concat({"a", "b", "c"}, "-", 2, 3))
print(table.concat({"a", "b", "c"}, "-", 3, 2) == "", table.concat({"a", "b", "c"}, 1, 1, 3))
print(table.concat({[5] = "five", [6] = "six"}, "+", 5, 6))
err(table.concat, {1, {}, 3})
err(table.concat, {1, 2, 3}, ", ", 1, 5)
err(table.concat, {true})
err(table.concat, {}, {})
err(table.concat, nil)
err(table.concat, {}, "", "a")
print(pcall(function() return table.concat({1, nil, 3}, "", 1, 3) end))

-- pack / unpack
local p = table.pack()
print(p.n, #p)
p = table.pack(1, nil, 3, nil)
print(p.n, p[1], p[2], p[3], p[4])
print(table.unpack({1, 2, 3}))
print(table.unpack({1, 2, 3}, 2))
print(table.unpack({1, 2, 3}, 2, 5))
print(table.unpack({1, 2, 3}, -1, 1))
print(table.unpack({1, 2, 3}, 3, 2))
print(select("#", table.unpack({}, 1, 0)), select("#", table.unpack({}, 5, 7)))
print(table.unpack({n = 3}, 1, 2))
print(table.unpack({1, 2, 3}, "2", 3.0))
print(table.unpack({[9223372036854775807] = "max"}, 9223372036854775806, 9223372036854775807))
print(table.unpack({[-9223372036854775807 - 1] = "min"}, -9223372036854775807 - 1, -9223372036854775807))
err(table.unpack, {}, 1, 1e7)
err(table.unpack, {}, -9223372036854775807 - 1, 9223372036854775807)
err(table.unpack, {}, 1.5)
err(table.unpack, {}, 1, "x")
err(table.unpack)
err(table.unpack, nil)
print(table.unpack("abc"))

-- move
local a = {1, 2, 3, 4, 5}
table.move(a, 1, 3, 3)
print(dump(a))
a = {1, 2, 3, 4, 5}
table.move(a, 3, 5, 1)
print(dump(a))
a = {1, 2, 3, 4, 5}
table.move(a, 2, 4, 2)
print(dump(a))
local b = table.move({1, 2, 3}, 1, 3, 2, {})
print(dump(b, 4))
print(table.move({1, 2}, 1, 0, 5) ~= nil)
local src, dst = {1, 2, 3}, {"a", "b", "c", "d"}
print(table.move(src, 1, 3, 2, dst) == dst, dump(dst))
print(dump(table.move({1, 2, 3}, 1, 3, 1, {})))
print(table.move({}, 1, 0, 1, nil) ~= nil)
err(table.move, {}, 1, 9223372036854775807, 2)
err(table.move, {}, -1, 9223372036854775807, 2)
err(table.move, {}, 1, 2, 9223372036854775807)
err(table.move, {}, 1, 2)
err(table.move, {}, 1, 2, 3, 4)
err(table.move, 1, 1, 2, 3)
err(table.move, {}, "a", 2, 3)
local m = {[-2] = "x", [-1] = "y", [0] = "z"}
table.move(m, -2, 0, 1)
print(m[1], m[2], m[3])
local big = table.move({10, 20}, 1, 2, 9223372036854775806)
print(big[9223372036854775806], big[9223372036854775807])
