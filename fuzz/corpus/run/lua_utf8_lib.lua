-- utf8 library (strict and lax decoding, positions, errors)
local function line(...)
  local t = {}
  for i = 1, select("#", ...) do t[#t + 1] = tostring((select(i, ...))) end
  print(table.concat(t, " "))
end
local function err(...) print(select(2, pcall(...))) end

print(utf8.charpattern == "[\0-\x7F\xC2-\xFD][\x80-\xBF]*")
print(utf8.char() == "", utf8.char(65) == "A", utf8.char(72, 105) == "Hi")
print(utf8.char(228, 8364, 128512) == "\xC3\xA4\xE2\x82\xAC\xF0\x9F\x98\x80")
print(utf8.char(0x7F, 0x80, 0x7FF, 0x800, 0xFFFF, 0x10000, 0x10FFFF) ==
  "\x7F\xC2\x80\xDF\xBF\xE0\xA0\x80\xEF\xBF\xBF\xF0\x90\x80\x80\xF4\x8F\xBF\xBF")
print(utf8.char(0x110000, 0x1FFFFF, 0x200000, 0x3FFFFFF, 0x4000000, 0x7FFFFFFF) ==
  "\xF4\x90\x80\x80\xF7\xBF\xBF\xBF\xF8\x88\x80\x80\x80\xFB\xBF\xBF\xBF\xBF\xFC\x84\x80\x80\x80\x80\xFD\xBF\xBF\xBF\xBF\xBF")
print(utf8.char("65", 66.0) == "AB", utf8.char(0) == "\0")
err(utf8.char, 0x80000000)
err(utf8.char, -1)
err(utf8.char, 65, "x")
err(utf8.char, 1.5)

local s = "h\xC3\xA4\xE2\x82\xAC!"  -- h ä € !
line(utf8.len(s), utf8.len(""), utf8.len(s, 2), utf8.len(s, 4), utf8.len(s, -1), utf8.len(s, 1, 1))
line(utf8.len(s, 1, 2), utf8.len(s, 1, 3), utf8.len(s, 8), utf8.len(s, 1, -5))
line(utf8.len("\xFF"), utf8.len("ab\xE4"), utf8.len("ab\x80cd"), utf8.len("\xC0\x80"))
line(utf8.len("\xED\xA0\x80"), utf8.len("\xED\xA0\x80", 1, -1, true))
line(utf8.len("\xF4\x90\x80\x80"), utf8.len("\xF4\x90\x80\x80", 1, -1, true))
line(utf8.len("\xF8\x88\x80\x80\x80"), utf8.len("\xF8\x88\x80\x80\x80", 1, -1, true))
line(utf8.len("\xFE\x80\x80\x80\x80\x80\x80", 1, -1, true))
err(utf8.len, s, 0)
err(utf8.len, s, 9)
err(utf8.len, s, 1, 8)
err(utf8.len, s, -20)
err(utf8.len, {})
line(utf8.len(12345), utf8.len(s, 1, -20))

line(utf8.codepoint(s))
line(utf8.codepoint(s, 1, -1))
line(utf8.codepoint(s, 2), utf8.codepoint(s, -1), utf8.codepoint(s, 4, 7))
line(select("#", utf8.codepoint(s, 3, 2)))
line(utf8.codepoint("\xF4\x90\x80\x80", 1, 1, true), utf8.codepoint("\xED\xA0\x80", 1, 1, true))
line(utf8.codepoint("\u{7FFFFFFF}", 1, 1, true))
err(utf8.codepoint, s, 3)
err(utf8.codepoint, s, 0)
err(utf8.codepoint, s, 1, 9)
err(utf8.codepoint, "\xED\xA0\x80")
err(utf8.codepoint, "\xF4\x90\x80\x80")
err(utf8.codepoint, "\xC3")
print(pcall(function() return utf8.codepoint("\xFF") end))

line(utf8.offset(s, 1), utf8.offset(s, 2), utf8.offset(s, 3), utf8.offset(s, 4), utf8.offset(s, 5), utf8.offset(s, 6))
line(utf8.offset(s, -1), utf8.offset(s, -2), utf8.offset(s, -3), utf8.offset(s, -4), utf8.offset(s, -5))
line(utf8.offset(s, 0, 3), utf8.offset(s, 0, 6), utf8.offset(s, 0, 1), utf8.offset(s, 0, 8))
line(utf8.offset(s, 2, 2), utf8.offset(s, -1, 4), utf8.offset(s, 1, 8), utf8.offset(s, 2, 8))
line(utf8.offset("", 1), utf8.offset("", 0), utf8.offset("", -1), utf8.offset("abc", 5))
err(utf8.offset, s, 1, 3)
err(utf8.offset, s, -1, 6)
err(utf8.offset, s, 1, 9)
err(utf8.offset, s, 1, 0)
err(utf8.offset, s)
print(pcall(function() return utf8.offset("a\x80", 1, 2) end))

for p, c in utf8.codes(s) do line(p, c) end
for p, c in utf8.codes("") do line("never", p, c) end
for p, c in utf8.codes("\xED\xA0\x80x", true) do line("lax", p, c) end
for p, c in utf8.codes("\xF4\x90\x80\x80", true) do line("lax", p, c) end
print(pcall(function() for p, c in utf8.codes("ab\xFF") do line(p, c) end end))
print(pcall(function() for p, c in utf8.codes("\xED\xA0\x80") do line(p, c) end end))
print(pcall(function() for p, c in utf8.codes("a\xC3") do line(p, c) end end))
err(utf8.codes, {})
local f, st, init = utf8.codes("xy")
line(type(f), st, init, f(st, init))
line(f(st, 1), select("#", f(st, 2)))
