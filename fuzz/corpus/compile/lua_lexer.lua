-- lexer: long strings, comments, escapes, numerals

print("== long strings")
local s = [[
first line
second]]
print(s, #s)
print([==[a]]b]=]c]==])
print(#[[]], #[[

]])
print([=[
]=] == "")
local t = [[x\ny]]
print(t, #t)
print([[with "quotes" and 'apostrophes']])
print([==[
nested [[ ]] and ]=] inside]==])

print("== comments")
--[[ a long
comment ]] print("after long comment")
--[==[ level 2 ]] still comment
]==] print("after level-2 comment")
-- short comment [[ not long
print("after short comment")
--[ not a long comment
print("ok")
print(1 --[[inline]] + 2)

print("== escapes")
print("a\tb|", #"a\tb")
print(#"\a\b\f\n\r\t\v\\\"\'")
print("\65\066\0671" == "ABC1")
print(#"\0", #"a\0b", "a\0b" == "a\0b", "a\0b" == "a\0c")
print("\x41\x62\x7a\x7A")
print("\z
       continued", "a\z  b")
print("line1\
line2")
print(#"\u{0}", #"\u{7F}", #"\u{80}", #"\u{7FF}", #"\u{800}", #"\u{FFFF}")
print(#"\u{10000}", #"\u{10FFFF}", #"\u{110000}", #"\u{1FFFFF}", #"\u{200000}")
print(#"\u{3FFFFFF}", #"\u{4000000}", #"\u{7FFFFFFF}")
print("\u{20AC}" == "\xE2\x82\xAC", "\u{48}\u{49}")
print("\u{7FFFFFFF}" == "\xFD\xBF\xBF\xBF\xBF\xBF")
print("\u{10000}" == "\xF0\x90\x80\x80")
print("\u{0000000041}")
print('single \'quoted\' "x"')
print("\255" == "\xff", #"\255\255")
print("\9x" == "\tx", "\0009" == "\0" .. "9")

print("== bad escapes (via load)")
local function tryload(src)
  local f, err = load(src)
  if f then print("loaded", f()) else print("error", err) end
end
tryload([[return "\q"]])
tryload([[return "\x4"]])
tryload([[return "\xg0"]])
tryload([[return "\256"]])
tryload([[return "\u{110000000}"]])
tryload([[return "\u{80000000}"]])
tryload([[return "\u41"]])
tryload([[return "\u{41"]])
tryload('return "abc')
tryload('return "abc\ndef"')
tryload('return [[abc')
tryload('x = [==[ abc ]=]')
tryload('--[[ unfinished')
tryload('return 3x')
tryload('return 0x')
tryload('return 1e')
tryload('return 1..2')
tryload('return 1 .. 2')
tryload('return @')

print("== numerals")
print(1e2, .5, 3., 0x.1, 0x10, 0xA, 0Xa, 0x1p4, 0x.8p1, 0x1P-2)
print(1E2, 1e+2, 1e-2, 2.5e3, 0.0, 00012, 1.e1)
print(0xff, 0xFFFFFFFF, 0x7fffffffffffffff)
print(0xffffffffffffffff, 0x10000000000000000, 0x8000000000000000)
print(9223372036854775807, 9223372036854775808, -9223372036854775808)
print(type(9223372036854775808), 9223372036854775808 == 2^63)
print(9223372036854775807 + 0 == 9223372036854775807)
print(123456789012345678901234567890)
print(0xA.8p0, 0x.1p4, 0x1.8, 0xe+1, 0xE-1)
print(1e308 * 10, -1e308 * 10, 1e-400)
print(3 == 3.0, 1e2 == 100)
print(0x7fffffffffffffff + 1 == -9223372036854775807 - 1)
print(tostring(9223372036854775808), tostring(2^63))
print(tostring(1e15), tostring(1e16), tostring(-1e15))
print(tostring(0x1p-1074), tostring(0x1p1023))

print("== identifiers and keywords")
local _a1, A_, _ = 1, 2, 3
print(_a1, A_, _)
local goto_ = 5 print(goto_)
tryload("local and = 1")
tryload("local function end() end")
print(load("return 1 -- comment at end")())
print(load("return 1 --[[ unterminated?]]")())
print(load("\n\n\nreturn 7")())
tryload("\n\n\nx = = 1")
tryload("#!/usr/bin/lua\nreturn 1")
print(load("return 'a' ..\n'b'")())
print(load("\r\nreturn\r\n 5\r")())
print(load("return [[\r\nx\n\ry]]")() == "x\ny")
