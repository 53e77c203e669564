-- expect: ok
-- overrun: 20000
-- steps: 800
-- (The unbalanced `%b()` below is a quadratic scan, 1.8 * 10^9 bytes; a `%b` scan is charged
-- 5 steps per 64 bytes, so it needs ~35M fuel: more than the default step cap.)
-- Attacks: malformed and pathological patterns: nested %b, unbalanced %b, backreferences
-- to open/invalid captures, too many captures, deep pattern recursion, invalid UTF-8 in
-- patterns and subjects, %f with odd sets, trailing '%', huge repetition.
local function err(pat, s, want)
  local ok, e = pcall(string.match, s or "abc", pat)
  assert(not ok, "expected error for " .. pat)
  if want then assert(e:find(want, 1, true), e) end
end
err("%", nil, "malformed pattern (ends with '%')")
err("[a", nil, "malformed pattern (missing ']')")
err("[", nil, "missing ']'")
err("[^", nil, "missing ']'")
err("%b", nil, "missing arguments to '%b'")
err("%ba", nil, "missing arguments to '%b'")
err("%f", nil, "missing '[' after '%f' in pattern")
err("(", nil, "unfinished capture")
err(")", nil, "invalid pattern capture")
err("%1", nil, "invalid capture index")
err("(a%1)", "aa", "invalid capture index")
err("(a)%2", "aa", "invalid capture index")
err("%0", nil, "invalid capture index")
err(("()"):rep(33), "", "too many captures")
err(("("):rep(40) .. "a" .. (")"):rep(40), "a", "too many captures")
-- deep pattern recursion: PUC says "pattern too complex"; any clean error or result is fine
local ok, e = pcall(string.find, ("a"):rep(300000), ("a?"):rep(300000) .. "b")
assert(type(ok) == "boolean")
ok = pcall(string.match, ("x"):rep(500000), ("%w*"):rep(1000) .. "$")
assert(type(ok) == "boolean")
-- nested balanced matches
local nested = ("("):rep(100000) .. (")"):rep(100000)
assert(#nested:match("%b()") == 200000)
-- unbalanced: quadratic scan (PUC takes seconds); a clean "pattern too complex" is fine
ok, e = pcall(string.match, ("("):rep(60000), "%b()")
assert(ok and e == nil or tostring(e):find("pattern too complex"), e)
assert(("x"):rep(10):find("%bxy") == nil)
-- backreferences
assert(("abcabc"):match("(abc)%1") == "abc")
assert(("aaaa"):find("(a*)%1") == 1)
assert(("aaaaaaaaaaaaaaaaaaaab"):find("(a-)%1%1b") ~= nil or true)
-- invalid UTF-8 in subjects and patterns
local bad = "\xff\xfe\xc0\x80\xed\xa0\x80"
assert(bad:find("\xfe", 1, true) == 2)
assert(bad:find("[\xc0-\xff]+") == 1)
assert(bad:gsub("[\x80-\xff]", "?") == "???????")
assert(("\0\0\0"):find("%z*") == 1)
assert(("a\0b"):match("a%zb") == "a\0b")
-- frontier with empty and full sets
assert(("THE (quick) fox"):find("%f[%a]%a+") == 1)
-- anchors and empty matches at the end
local n = 0
for _ in (""):gmatch("") do n = n + 1 end
assert(n == 1)
assert(select(2, ("abc"):gsub("", "-")) == 4)
assert(select(2, ("x"):rep(100000):gsub("", "")) == 100001)
-- init positions far out of range
assert(("abc"):find("b", math.mininteger) == 2)
assert(("abc"):find("b", math.maxinteger) == nil)
assert(("abc"):find("", 10) == nil)
assert(("abc"):find("", 4) == 4)
assert(("abc"):match(".-", -math.maxinteger) == "")
-- gsub with every replacement kind and invalid %
ok, e = pcall(string.gsub, "abc", "b", "%2")
assert(not ok and e:find("invalid capture index %%2"), e)
ok, e = pcall(string.gsub, "abc", "b", "%x")
assert(not ok and e:find("invalid use of '%' in replacement string", 1, true), e)
ok, e = pcall(string.gsub, "abc", "b", "%")
assert(not ok)
ok, e = pcall(string.gsub, "abc", "b", {b = {}})
assert(not ok and e:find("invalid replacement value %(a table%)"), e)
ok, e = pcall(string.gsub, "abc", "b", function() return {} end)
assert(not ok and e:find("invalid replacement value %(a table%)"), e)
assert(("abc"):gsub("b", {b = false}) == "abc")
assert(("abc"):gsub("b", "x", -1) == "abc")
assert(("abc"):gsub("b", "x", math.mininteger) == "abc")
assert(("abc"):gsub("b", "x", math.maxinteger) == "axc")
ok = pcall(string.gsub, "abc", "b", "x", 1.5)
assert(not ok)
