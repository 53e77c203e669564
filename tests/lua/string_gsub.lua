-- string.gsub with string, table and function replacements
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

-- string replacements
show(string.gsub("hello world", "o", "0"))
show(string.gsub("hello world", "o", "0", 1))
show(string.gsub("hello world", "o", "0", 0))
show(string.gsub("hello world", "o", "0", -1))
show(string.gsub("hello world", "(o)", "[%1]"))
show(string.gsub("hello world", "%w+", "<%0>"))
show(string.gsub("hello world", "(%w+) (%w+)", "%2 %1"))
show(string.gsub("abc", "", "-"))
show(string.gsub("abc", "x*", "-"))
show(string.gsub("abc", "b*", "X"))
show(string.gsub("", "", "x"))
show(string.gsub("abc", "^", ">"))
show(string.gsub("abc", "$", "<"))
show(string.gsub("aaa", "^a", "b"))
show(string.gsub("hello", "l", "%%"))
show(string.gsub("hello", "l", "%1"))
show(string.gsub("hello", "()l", "%1"))
show(string.gsub("abc", ".", "%0%0"))
show(string.gsub("abc", "b", 5), string.gsub("abc", "b", 1.5))
show(string.gsub(123, 2, 0))
show(string.gsub("a.b.c", ".", "-", 2.0))
show(string.gsub("a.b.c", "%.", "/"))
show(string.gsub("one  two", "%s+", " "))
show(string.gsub("abc", "%w", "%%%0"))
err(function() return string.gsub("abc", "a", "%2") end)
err(function() return string.gsub("abc", "(a)", "%2") end)
err(function() return string.gsub("abc", "a", "%") end)
err(function() return string.gsub("abc", "a", "%x") end)
err(function() return string.gsub("abc", "a") end)
err(function() return string.gsub("abc", "a", true) end)
err(function() return string.gsub("abc", "a", "x", 1.5) end)
err(function() return string.gsub("abc", "a", "x", "y") end)
err(function() return string.gsub("abc", "(", "x") end)
err(function() return string.gsub("abc", "%b", "x") end)
err(function() return ("abc"):gsub() end)

-- table replacements
local t = {hello = "HI", world = false, num = 42, fl = 1.5}
show(string.gsub("hello world num fl other", "%w+", t))
show(string.gsub("$a and $b", "%$(%w+)", {a = "A"}))
show(string.gsub("abc", "()", {[1] = "one", [4] = "four"}))
err(function() return string.gsub("hello", "%w+", {hello = {}}) end)
err(function() return string.gsub("hello", "%w+", {hello = true}) end)
local proxy = setmetatable({}, {__index = function(_, k) return k:upper() end})
show(string.gsub("abc def", "%a+", proxy))
local chain = setmetatable({}, {__index = setmetatable({x = "ex"}, {__index = function(_, k) return "<" .. k .. ">" end})})
show(string.gsub("x y", "%a", chain))

-- function replacements
show(string.gsub("hello world", "%w+", function(w) return w:upper() end))
show(string.gsub("hello world", "%w+", function(w) end))
show(string.gsub("hello world", "%w+", function(w) return false end))
show(string.gsub("a=1, b=2", "(%w+)=(%w+)", function(k, v) return v .. "=" .. k end))
show(string.gsub("abc", "", function() return "-" end))
show(string.gsub("abc", "()", function(p) return p end))
show(string.gsub("x", "x", function() return 3.0 end))
show(string.gsub("abc", "%w", function(c) return c:byte() end, 2))
err(function() return string.gsub("hello", "%w+", function() return {} end) end)
err(function() return string.gsub("hello", "%w+", function() error("boom") end) end)
print(type(select(2, pcall(string.gsub, "hello", "%w+", function() error({}) end))))
local count = 0
show(string.gsub(string.rep("ab", 50), "a", function() count = count + 1 end), count)
-- nested gsub inside the replacement function
show(string.gsub("a b", "%a", function(c) return (string.gsub("xyz", "y", c)) end))
-- (lunette lets the replacement function or __index yield; PUC cannot: not tested here)
-- pcall inside replacement
show(string.gsub("ab", ".", function(c) return select(2, pcall(error, c .. "!", 0)) end))

-- anchored patterns replace at most once
show(string.gsub("aaa", "^a*", "-"))
show(string.gsub("hello", "^(h)", function(h) return h:upper() end))
show(string.gsub("hello", "^x", "y"))
-- empty matches right after a match are skipped (5.4 rule)
show(string.gsub("hello world", "%w*", "X"))
show(string.gsub("abc", "%w-", "."))
-- long subject
local big = string.rep("abc ", 5000)
local r, n = string.gsub(big, "b", "BB")
print(#r, n)
r, n = string.gsub(big, "%w+", function(w) return #w end)
print(#r, n, r:sub(1, 12))
-- a subject long enough that lunette spreads the work over several steps
local huge = string.rep("word ", 100000)
local h, hn = string.gsub(huge, "(%w+) ", "%1,")
print(#h, hn, h:sub(-10))
local cnt = 0
h, hn = string.gsub(huge, "%w+", function() cnt = cnt + 1 end)
print(#h, hn, cnt)

-- Replacement strings split into pieces once per run of matches: plain runs, escapes at
-- either end, position captures, and a replacement with more escapes than are listed
-- (more than 4096 pieces), whose pieces are read again at each match.
print(("abc"):gsub("b", "[%0|%%|%0]"))
print(("abc"):gsub("(b)()", "%2%1%2"))
print(("xyz"):gsub("", "%%"))
print(pcall(string.gsub, "abc", "b", "x%"))
print(pcall(string.gsub, "abc", "b", "%x"))
print(pcall(string.gsub, "abc", "b", "%2"))
do
  local many = ("%0-"):rep(3000)
  local r, n = ("ab"):gsub(".", many)
  print(#r, n, r:sub(1, 8), r:sub(-8))
  local bad = ("%0"):rep(5000) .. "%"
  print(pcall(string.gsub, "ab", ".", bad))
  local long = ("x"):rep(100000) .. "%1" .. ("y"):rep(100000)
  local r2, n2 = ("a1b2"):gsub("(%d)", long)
  print(#r2, n2, r2:sub(100000, 100003))
end
-- The first bad escape or capture in order is the one reported.
print(pcall(string.gsub, "abc", "b", "%2%"))
print(pcall(string.gsub, "abc", "b", "%x%2"))
print(pcall(string.gsub, "abc", "b", ("%0"):rep(5000) .. "%2%"))
