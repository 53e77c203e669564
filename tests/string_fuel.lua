local s = ("ab"):rep(3000) .. "c"
print(s:find(("a*"):rep(5) .. "c"))
print(s:find("(b)(a)c"))
print(s:find("(b)(a)(b)c"))
print(select('#', s:byte(1, -1)))
local codes = {} for i = 1, 40000 do codes[i] = i % 256 end
local chars = string.char(table.unpack(codes)) print(#chars, chars:sub(-3):byte(1, -1))
codes[20000] = 300 print(pcall(string.char, table.unpack(codes)))
local d = os.date(("!%Y-%m-%d %H:%M:%S %j %a %b|"):rep(3000), 86400 * 365) print(#d, d:sub(-41))
print(pcall(os.date, ("!%Y"):rep(5000) .. "%Q tail", 0))
local t = {} for a, b in s:gmatch("(a)(b)") do t[#t + 1] = a .. b end print(#t)
print(s:gsub("a", "%0x"):len())
print((s:gsub("(a)(b)", function(x, y) return y .. x end)):sub(1, 20))
print(s:gsub("b", {b = "B"}):sub(-10))
print(s:match("^([ab]*)c$"):len())
print(s:match(".-(c)"))
print(string.format(("%5.2f|"):rep(100), table.unpack((function() local r = {} for i = 1, 100 do r[i] = i / 3 end return r end)())):len())
print(string.format(("%99.99f"):rep(50), table.unpack((function() local r = {} for i = 1, 50 do r[i] = -1e308 end return r end)())):sub(1, 40))
print(select('#', utf8.codepoint(("é"):rep(2000), 1, -1)))
print(select('#', string.unpack(("i2"):rep(1000), ("xy"):rep(1000))))
print(("x"):rep(100000):find(("x"):rep(50000) .. "y"))
print(("x"):rep(100000):find(("x"):rep(50000) .. "y", 1, true))
print(("x"):rep(100000):find(("x"):rep(50000), 7, true))
print(("(" .. ("(x)"):rep(1000) .. ")"):find("%b()"))
print(("a"):rep(3000):find("(a+)%1$"))
print(("a"):rep(30):find(("a?"):rep(15) .. "b"))
print(("a"):rep(40):find(("a?"):rep(20) .. ("a"):rep(20)))
local big1, big2 = ("q"):rep(100000) .. "a", ("q"):rep(100000) .. "b"
local c = 0 for i = 1, 50 do if big1 < big2 then c = c + 1 end if big1 <= big2 then c = c + 1 end if big1 == (("q"):rep(100000) .. "a") then c = c + 1 end end print(c)
local n = 0 for w in ("one two  three "):rep(500):gmatch("%a+") do n = n + 1 end print(n)
print(pcall(string.rep, "x", -1))
-- A long needle (64 KiB or more) is prepared in a piece of its own, then searched.
local lhay, lneedle = ("z"):rep(200000), ("z"):rep(70000) .. "!"
print(lhay:find(lneedle, 1, true), lhay:find(lneedle), lhay:match(lneedle))
local lhay2 = ("y"):rep(1000) .. lneedle .. ("y"):rep(1000) .. lneedle
print(lhay2:find(lneedle, 1, true), lhay2:find(lneedle, 2000, true))
local lr, ln = lhay2:gsub(lneedle, "<>") print(#lr, ln, lr:sub(995, 1006))
local lc = 0 for m in lhay2:gmatch(lneedle) do lc = lc + #m end print(lc)
-- table.unpack of many results pushes them a piece at a time.
local ut = {} for i = 1, 70000 do ut[i] = i * 3 end
print(select("#", table.unpack(ut)), select(65000, table.unpack(ut)))
print(select(-1, table.unpack(ut, 5, 69000)), select("#", table.unpack(ut, -3, 40000)))
-- Long runs of bytes that cannot begin a match, skipped across pieces (a class, a
-- literal, a set as the first item).
local skip = ("."):rep(300000)
print((skip .. "Zq"):find("%u"), (skip .. "-qq"):find("q+"), (skip .. "y"):find("[xyz]"))
print((skip .. "ab"):match("(%a)(%a)"), select(2, (skip .. "k1k2"):gsub("k%d", "")))
-- Needles long enough for the resumable Two-Way search (its preprocessing pauses too).
local long_hay = ("ab"):rep(6000) .. "c" .. ("ab"):rep(3000)
local long_needle = ("ab"):rep(2500) .. "c" .. ("ab"):rep(100)
print(long_hay:find(long_needle, 1, true), select(2, long_hay:gsub(long_needle, "")),
  #long_hay:match(("ba"):rep(2100)), select(2, long_hay:gsub(("ab"):rep(2100), "")))
-- string.pack and string.packsize over formats of many items work 256 items at a time.
local pk = string.pack(("xB"):rep(2000) .. ("x"):rep(70000) .. "<i3", table.unpack((function()
  local r = {} for i = 1, 2000 do r[i] = i % 256 end r[2001] = -77 return r end)()))
print(#pk, pk:byte(2), pk:byte(4000), string.unpack("<i3", pk, #pk - 2),
  string.packsize(("i4x"):rep(3000)), pcall(string.pack, ("B"):rep(600), 1))
-- os.date over a long UTC format ("!" then conversions charged by their kind).
local dd = os.date("!" .. ("%c|%x|%Y|"):rep(3000), 1e9)
print(#dd, dd:sub(1, 33), dd:sub(-12))
-- Error messages quoting a long `__name`, built in pieces before they are raised.
local named = setmetatable({}, {__name = ("N"):rep(300000) .. "!"})
local okn, en = pcall(function() return named < named end) print(okn, #en, en:sub(-12))
print(select(2, xpcall(function() return named .. "x" end, function(m) return #m .. m:sub(1, 30) end)))
print(pcall(coroutine.wrap(function() local _, e = pcall(string.rep, named) return #e, e:sub(1, 40) end)))
local co = coroutine.create(function() return named() end)
local okc, ec = coroutine.resume(co) print(okc, #ec, ec:sub(-22), coroutine.status(co))
-- Captures longer than 256 KiB, built in pieces (find, match, gmatch).
local bigc = ("ab"):rep(200000) .. "c"
local m1, m2 = bigc:match("((a[ab]*)c)") print(#m1, #m2, m1:sub(-3))
local i1, j1, c1, p1, c2 = bigc:find("a(b[ab]*)()(c)", 3) print(i1, j1, #c1, p1, c2)
local nw = 0 for w in bigc:gmatch("[ab]+") do nw = nw + #w end print(nw)
print(#bigc:match("a.*"), bigc:match("()ab*()"))
local gr, gn = bigc:gsub("(a[ab]*)(c)", function(x, y) return "<" .. #x .. y .. ">" end) print(gr, gn)
print(#("abc"):rep(1000):upper(), ("abc"):rep(2):reverse())
