-- grants: debug
-- Call and return hooks: Lua and Rust functions, tail calls, metamethods, pcall, errors.
local out = {}
local function h(ev)
  local info = debug.getinfo(2, "nSt")
  out[#out + 1] = ev .. ":" .. (info.name or "?") .. ":" .. info.what
    .. (info.istailcall and ":tail" or "")
end
local function flush(title)
  print(title)
  for i = 1, #out do print("", out[i]) end
  out = {}
end

local function g(x) return x * 2 end
local function f(x) return g(x + 1) end
local function v(...) return select("#", ...) end
debug.sethook(h, "cr")
local a = f(1)
local b = v(1, 2, 3)
debug.sethook()
flush("tail calls and varargs " .. a .. " " .. b)

debug.sethook(h, "cr")
local ok, err = pcall(error, "x")
local ok2 = pcall(f, 2)
debug.sethook()
flush("pcall " .. tostring(ok) .. " " .. tostring(ok2))

local mt = {
  __index = function(t, k) return k .. "!" end,
  __add = function(x, y) return 42 end,
  __concat = function(x, y) return "cat" end,
  __eq = function() return true end,
  __len = function() return 7 end,
  __call = function(self, x) return x end,
}
local o = setmetatable({}, mt)
local p = setmetatable({}, mt)
debug.sethook(h, "cr")
local r1 = o.key
local r2 = o + 1
local r3 = o .. "s"
local r4 = o == p
local r5 = #o
local r6 = o(5)
debug.sethook()
flush("metamethods " .. r1 .. " " .. r2 .. " " .. r3 .. " " .. tostring(r4) .. " " .. r5 .. " " .. r6)

debug.sethook(h, "cr")
for k, v in pairs({1}) do end
for i, v in ipairs({1}) do end
local s = ("abc"):upper()
local t = {3, 1, 2}
table.sort(t, function(x, y) return x < y end)
local n = tostring(setmetatable({}, {__tostring = function() return "T" end}))
debug.sethook()
flush("iterators and library " .. s .. " " .. n)

-- a function whose `return` closes a variable
local function closing()
  local c <close> = setmetatable({}, {__close = function() out[#out + 1] = "closed" end})
  return 1
end
debug.sethook(h, "cr")
closing()
debug.sethook()
flush("close")

-- call hook with only "c", return hook with only "r"
debug.sethook(h, "c")
f(1)
debug.sethook(h, "r")
f(1)
debug.sethook()
flush("separate masks")

-- the hook sees the call's arguments as locals
debug.sethook(function(ev)
  if ev == "call" then
    local name, value = debug.getlocal(2, 1)
    if name == "x" then print("call with", name, value) end
  end
end, "c")
g(21)
debug.sethook()

-- a traceback inside a call hook shows the hooked Rust function as a level
debug.sethook(function(ev)
  local info = debug.getinfo(2, "S")
  if info.what == "C" and debug.getinfo(2, "n").name == "rawlen" then
    print((debug.traceback("in hook", 1):gsub("\n[^\n]*%[C%]: in %?$", "")))
  end
end, "c")
local len = rawlen({1, 2})
debug.sethook()
print(len)

-- no hook is called while a finalizer runs (PUC turns hooks off for __gc)
local function in_gc() local z = 1 return z end
setmetatable({}, {__gc = function() in_gc() end})
debug.sethook(h, "crl")
collectgarbage()
debug.sethook()
flush("finalizer")
