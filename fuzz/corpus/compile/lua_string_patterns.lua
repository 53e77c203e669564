-- string.find, string.match, string.gmatch and the pattern language
local function show(...)
  local n = select("#", ...)
  local out = ""
  for i = 1, n do
    local v = select(i, ...)
    out = out .. (i > 1 and " " or "") .. (type(v) == "string" and string.format("%q", v) or tostring(v))
  end
  print(n, out)
end
local function err(f, ...) print(select(2, pcall(f, ...))) end

-- find: plain, init, specials
show(string.find("hello world", "o"))
show(string.find("hello world", "o", 6))
show(string.find("hello world", "o", -3))
show(string.find("hello world", "l", -100))
show(string.find("hello", "", 1), string.find("hello", "", 5))
show(string.find("hello", "", 6), string.find("hello", "", 7))
show(string.find("hello", "h", 0), string.find("", ""), string.find("", "", 2))
show(string.find("a.b", ".", 1, true), string.find("a.b", "."), string.find("a+b", "+", 1, true))
show(string.find("a(b", "(", 1, true))
show(string.find("abc", "b", nil, true), string.find("abc", "B"))
show(string.find("x^y", "^y"), string.find("x^y", "^", 1, true), string.find("x^y", "%^y"))
show(string.find(12345, 34), string.find("a\0b\0c", "\0c"), string.find("a\0b", "%z"))
err(function() return string.find("abc") end)
err(function() return string.find(nil, "x") end)
err(function() return string.find("abc", "b", "x") end)

-- match: captures, anchors
show(string.match("key = value", "(%w+)%s*=%s*(%w+)"))
show(string.match("hello", "l+"), string.match("hello", "()ll()"))
show(string.match("hello", "^h"), string.match("hello", "^e"), string.match("hello", "o$"))
show(string.match("hello", "l$"), string.match("a$b", "$b"), string.match("a$", "a$$"))
show(string.match("  trim me  ", "^%s*(.-)%s*$"))
show(string.match("2024-01-15", "(%d+)-(%d+)-(%d+)"))
show(string.match("abc", "((a)(b)(c))"))
show(string.match("abc", "()"), string.match("abc", "()", 4), string.match("abc", "()", 5))
show(string.match("hello", ".-(l+)(.*)"))
show(string.match("[[nested]]", "%[(%b[])%]"))
show(string.match("f(a(b)c)d", "%b()"), string.match("((x", "%b()"), string.match("x)", "%b()"))
show(string.match("THE (quick) fox", "%f[%a]%a+", 5), string.match("hello", "%f[%l]"))
show(string.match("aXb", "%u"), string.match("a1", "%D"), string.match("\t x", "%S"))
show(string.match("x = 'it''s'", "(['\"])(.-)%1"), string.match("abcabc", "(abc)%1"))
show(string.match("hello", "[aeiou]"), string.match("hello", "[^aeiou]+"), string.match("a-z", "[a%-]+"))
show(string.match("]]x", "[]]+"), string.match("^^x", "[%^]+"), string.match("a-b", "[-]"))
show(string.match("x9_", "[%w_]+"), string.match("5 3", "[%d]"), string.match("abz", "[a-c]+"))
show(string.match("aaa", "a-"), string.match("aaa", "a-$"), string.match("aaab", "a*b"))
show(string.match("", "a?"), string.match("ab", "a?b?c?"), string.match("xyz", ".+"))
show(string.match("a.b", "%."), string.match("%", "%%"), string.match("a b", "%s"))
show(string.match("\1\2", "%c+"), string.match("a,b;", "%p+"), string.match("ABCdef0", "%x+"))
show(string.match("abc", "b", -2), string.match("abc", "b", -1), string.match("abc", "a", 10))
show(string.match(3.25, "%d+$"), string.match("x", "x", 1.0))
show(string.match("\200\201", "[\200-\255]+") == "\200\201", string.match("é", "%a"))
local many = string.rep("(a)", 32)
show(select("#", string.match(string.rep("a", 32), many)))
err(function() return string.match(string.rep("a", 40), string.rep("(a)", 33)) end)
err(function() return string.match("abc", "%") end)
err(function() return string.match("abc", "[a") end)
err(function() return string.match("abc", "[a%") end)
err(function() return string.match("abc", "[") end)
err(function() return string.match("abc", "[^") end)
err(function() return string.match("abc", "(a") end)
err(function() return string.match("abc", "a)") end)
err(function() return string.match("abc", "%1") end)
err(function() return string.match("abc", "(a)%2") end)
err(function() return string.match("abc", "(a%1)") end)
err(function() return string.match("abc", "%0") end)
err(function() return string.match("abc", "%b") end)
err(function() return string.match("abc", "%bx") end)
err(function() return string.match("abc", "%f") end)
err(function() return string.match("abc", "%fx") end)
err(function() return string.match(string.rep("a", 300), string.rep("a?", 300)) end)
show(string.match("abc", "%f[%z]"), string.match("abc", "%f[%Z]"))
show(string.match(string.rep("a", 100), string.rep("a?", 150)) == string.rep("a", 100))
-- a position capture never matches as a back-reference
show(string.match("aa", "()a%1"))

-- gmatch
local words = {}
for w in string.gmatch("one two  three", "%a+") do words[#words + 1] = w end
print(#words, words[1], words[2], words[3])
for k, v in string.gmatch("a=1, b=2, c=3", "(%w+)=(%w+)") do print(k, v) end
for p in string.gmatch("abc", "()") do print("pos", p) end
local out = ""
for m in string.gmatch("abc", "x*") do out = out .. "[" .. m .. "]" end
print(out)
out = ""
for m in string.gmatch("hello world", "o", 6) do out = out .. m end
print(out)
out = ""
for m in string.gmatch("hello", ".", -2) do out = out .. m end
print(out)
out = ""
for m in string.gmatch("hello", ".", 10) do out = out .. m end
print(out == "")
out = ""
for a, b in string.gmatch("^a^b", "^(.)") do out = out .. tostring(a) .. tostring(b) end
print(out)
out = ""
for m in string.gmatch("aaa", "a-") do out = out .. "<" .. m .. ">" end
print(out)
local it = string.gmatch("x1y2", "%a(%d)")
print(it(), it(), it(), it())
err(function() for _ in string.gmatch("abc", "(") do end end)
err(function() return string.gmatch("abc") end)
err(function() local f = string.gmatch("abc", "%1"); return f() end)
print(type(string.gmatch("", "")))
