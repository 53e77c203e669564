-- expect: ok
-- Attacks: the utf8 library on invalid UTF-8 (overlong, surrogates, truncated, 0xFF,
-- > 0x10FFFF, lax mode up to 2^31), huge positions, utf8.char of out-of-range values,
-- utf8.codes iteration over garbage, utf8.charpattern in patterns over garbage.
local bad = {"\xff", "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82", "\x80",
  "\xf8\x88\x80\x80\x80", "\xfd\xbf\xbf\xbf\xbf\xbf", "a\xffb"}
for _, s in ipairs(bad) do
  local n, pos = utf8.len(s)
  assert(n == nil and type(pos) == "number", s)
  local ok = pcall(function() for _, c in utf8.codes(s) do end end)
  assert(type(ok) == "boolean")
  assert(not pcall(utf8.codepoint, s, 1, -1))
end
assert(utf8.len("\xfd\xbf\xbf\xbf\xbf\xbf", 1, -1, true) == 1)
assert(utf8.codepoint("\xfd\xbf\xbf\xbf\xbf\xbf", 1, 1, true) == 0x7FFFFFFF)
assert(not pcall(utf8.codepoint, ""))
local ok, e = pcall(utf8.codepoint, "abc", 1, math.maxinteger)
assert(not ok and e:find("out of bounds"), e)
ok, e = pcall(utf8.codepoint, "abc", math.mininteger)
assert(not ok and e:find("out of bounds"), e)
ok, e = pcall(utf8.len, "abc", 5)
assert(not ok and e:find("initial position out of bounds"), e)
ok, e = pcall(utf8.len, "abc", 1, 5)
assert(not ok and e:find("final position out of bounds"), e)
assert(utf8.len("abc", 4) == 0)
assert(utf8.len("", 1, -1) == 0)
assert(utf8.offset("abc", 0, 4) == 4)
ok, e = pcall(utf8.offset, "abc", 1, 5)
assert(not ok and e:find("position out of bounds"), e)
ok, e = pcall(utf8.offset, "\x80", 1)
assert(not ok and e:find("initial position is a continuation byte"), e)
assert(utf8.offset("abc", math.maxinteger) == nil)
assert(utf8.offset("abc", math.mininteger) == nil)
assert(utf8.offset(("\xe2\x82\xac"):rep(100000), -1) == 299998)
ok, e = pcall(utf8.char, -1)
assert(not ok and e:find("value out of range"), e)
ok, e = pcall(utf8.char, 0x80000000)
assert(not ok and e:find("value out of range"), e)
ok, e = pcall(utf8.char, math.maxinteger)
assert(not ok)
assert(#utf8.char(0x7FFFFFFF) == 6)
assert(utf8.char() == "")
-- charpattern over garbage
local n = 0
for c in ("\xff\xfe" .. ("\xe2\x82\xac"):rep(1000) .. "\x80\x80"):gmatch(utf8.charpattern) do n = n + 1 end
assert(n >= 1000)
-- long valid/invalid inputs are charged and fine
local long = ("\xe2\x82\xac"):rep(300000)
assert(utf8.len(long) == 300000)
assert(select("#", utf8.codepoint(long, 1, 3000)) == 1000)
assert(utf8.len(long .. "\xff") == nil)
local k = 0
for p, c in utf8.codes(long) do k = k + 1 end
assert(k == 300000)
-- utf8.codes with a lax flag and odd control values
for p, c in utf8.codes("\xf4\x90\x80\x80", true) do assert(c == 0x110000) end
ok = pcall(utf8.codes, 42)
assert(ok)
ok = pcall(utf8.codes)
assert(not ok)
