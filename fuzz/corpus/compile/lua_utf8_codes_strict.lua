-- Hand-edited output: Lua 5.4.4 (the reference lua5.4) silently skips stray continuation
-- bytes in utf8.codes; Lua 5.4.6+ reports them ("invalid UTF-8 code"), and rejects a
-- subject starting with a continuation byte (bad argument #1 to 'codes'). The .out shows
-- the 5.4.7 behaviour, which lunette follows.
local function walk(s, lax)
  local out = {}
  local ok, e = pcall(function()
    for p, c in utf8.codes(s, lax) do out[#out + 1] = p .. ":" .. c end
  end)
  print(table.concat(out, " "), ok, e)
end
walk("ab\x80")
walk("ab\x80cd")
walk("\x80ab")
walk("a\xC3\xA4\xA4b")
walk("a\xC3\xA4\xA4b", true)
walk("\xC3\xA4\xE2\x82\xAC")
walk("x\xBF")
print(pcall(utf8.codes, "\x80"))
print(pcall(utf8.codes, "\xBFabc", true))
