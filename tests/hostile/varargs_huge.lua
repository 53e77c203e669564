-- expect: ok
-- Attacks: huge argument counts: select('#') and select(n) with huge/negative n,
-- table.unpack(t, 1, 1e8) (PUC: "too many results to unpack"), string.char of 1e6 args,
-- string.byte of a 1 MB string, table.pack of 250+ values, calls with 250+ arguments,
-- utf8.char of many args, math.max/min of many args, print of many args.
local ok, e = pcall(table.unpack, {}, 1, 1e8)
assert(not ok and e:find("too many results to unpack"), e)
ok, e = pcall(table.unpack, {}, 1, math.maxinteger)
assert(not ok and e:find("too many results"), e)
ok, e = pcall(table.unpack, {}, math.mininteger, math.maxinteger)
assert(not ok and e:find("too many results"), e)
assert(select("#", table.unpack({}, math.maxinteger, math.maxinteger)) == 1)
assert(select("#", table.unpack({}, math.mininteger, math.mininteger)) == 1)
assert(select("#", table.unpack({}, 1, 0)) == 0)
assert(select("#", table.unpack({}, math.maxinteger, math.mininteger)) == 0)
ok, e = pcall(table.unpack, {}, 1, 2^31)
assert(not ok, "2^31 results")
local big = {}
for i = 1, 10000 do big[i] = i end
assert(select("#", table.unpack(big)) == 10000)
assert(select(-1, table.unpack(big)) == 10000)
assert(select(10000, table.unpack(big)) == 10000)
assert(select("#", select(10001, table.unpack(big))) == 0)
ok, e = pcall(select, -10001, table.unpack(big))
assert(not ok and e:find("index out of range"), e)
ok, e = pcall(select, 0)
assert(not ok and e:find("index out of range"), e)
ok, e = pcall(select, math.mininteger, 1)
assert(not ok and e:find("index out of range"), e)
assert(select(math.maxinteger, 1) == nil)
assert(select("#", select(math.maxinteger, 1, 2, 3)) == 0)
ok, e = pcall(select, "x")
assert(not ok)
assert(select("#") == 0)
-- string.char of many args
local codes = {}
for i = 1, 200000 do codes[i] = i % 256 end
assert(#string.char(table.unpack(codes)) == 200000)
ok, e = pcall(string.char, 256)
assert(not ok and e:find("value out of range"), e)
ok, e = pcall(string.char, -1)
assert(not ok)
assert(select("#", string.byte(("x"):rep(200000), 1, -1)) == 200000)
assert(select("#", string.byte("abc", math.mininteger, math.maxinteger)) == 3)
-- pack/unpack 300 values, calls with 300 args, vararg functions forwarding them
local t = table.pack(table.unpack(big, 1, 300))
assert(t.n == 300)
local function count(...) return select("#", ...) end
local function fwd(...) return count(...) end
assert(fwd(table.unpack(big, 1, 300)) == 300)
assert(math.max(table.unpack(big)) == 10000)
assert(math.min(table.unpack(big)) == 1)
assert(#utf8.char(table.unpack(big)) > 10000)
-- a Lua-written call with 260 literal arguments and a vararg table constructor
local src = "local function f(...) return select('#', ...), {...} end return f(" ..
  table.concat(big, ",", 1, 260) .. ")"
local fn, err = load(src)
assert(fn == nil and err:find("registers"), err)
src = "local function f(...) return select('#', ...), {...} end return f(" ..
  table.concat(big, ",", 1, 240) .. ")"
local n, vt = load(src)()
assert(n == 240 and #vt == 240)
-- 260 return values, 260 assigned locals in a multiple assignment
local names = {}
for i = 1, 180 do names[i] = "v" .. i end
local src2 = "local " .. table.concat(names, ",") .. " = ... return v180"
assert(load(src2)(table.unpack(big, 1, 300)) == 180)
-- table.insert/remove with positions far out of range
ok, e = pcall(table.insert, {}, math.maxinteger, 1)
assert(not ok and e:find("position out of bounds"), e)
ok, e = pcall(table.insert, {}, 1, 2, 3)
assert(not ok and e:find("wrong number of arguments"), e)
ok, e = pcall(table.remove, {}, math.mininteger)
assert(not ok)
assert(table.remove({}, 0) == nil)
ok, e = pcall(table.move, {}, 1, math.maxinteger, 2)
assert(not ok and (e:find("too many elements to move") or e:find("wrap around")), e)
ok, e = pcall(table.move, {}, math.mininteger, -1, 1)
assert(not ok and e:find("too many elements to move"), e)
ok, e = pcall(table.move, {1}, 1, 1, math.maxinteger)
assert(ok or e:find("wrap around"), e)
