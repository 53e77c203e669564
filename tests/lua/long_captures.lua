-- grants: debug
-- Pattern captures longer than 256 KiB (lunette builds them in pieces across steps):
-- the same values, hook events and tracebacks as any capture.
local big = ("ab"):rep(200000) .. "c"
local m1, m2 = big:match("((a[ab]*)c)") print(#m1, #m2, m1:sub(-3))
local i1, j1, c1, p1, c2 = big:find("a(b[ab]*)()(c)", 3) print(i1, j1, #c1, p1, c2)
local nw = 0 for w in big:gmatch("[ab]+") do nw = nw + #w end print(nw)
print(#big:match("a.*"), big:match("()ab*()"))
local seen = {}
local r, n = big:gsub("(a[ab]*)(c)", function(x, y) seen[#seen + 1] = #x .. y return "<" .. #x .. ">" end)
print(#r, n, r, seen[1])
r, n = (big .. "x" .. big):gsub("[ab]+", function(w) return #w end)
print(r, n)
print((big:gsub(".+", function(w) return w:sub(1, 3) .. w:sub(-3) end)))
print(pcall(string.gsub, big, "[ab]+", function(w) error("in f " .. #w) end))
-- hooks see the replacement function called by gsub
local ev = {}
local function f(w) return #w end
debug.sethook(function(e)
  local i = debug.getinfo(2, "nS") ev[#ev + 1] = e .. ":" .. tostring(i.name) .. ":" .. i.what
end, "cr")
r = big:gsub("[ab]+", f)
local m = big:match("[ab]+")
debug.sethook()
print(r, #m)
print(table.concat(ev, " "))
-- a traceback in the replacement function shows gsub as its caller
big:gsub("[ab]+", function(w)
  local tb = debug.traceback("in f", 1)
  print(tb:match("^[^\n]*\n[^\n]*\n[^\n]*\n[^\n]*"))
end)
