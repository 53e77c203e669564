-- base library

print("== type")
print(type(nil), type(true), type(0), type(1.5), type("s"), type({}), type(print), type(function() end))
print(type(coroutine.create(function() end)), type(type), type(type(nil)))

print("== tostring")
print(tostring(nil), tostring(true), tostring(false), tostring(12), tostring(-1.25), tostring("str"))
print(tostring(1e300 * 1e300), tostring(-(1e300 * 1e300)), tostring(2^63), tostring(-0.0))
local obj = setmetatable({}, {__tostring = function(self) return "<obj>" end})
print(tostring(obj), obj)
print(pcall(tostring, setmetatable({}, {__tostring = function() return true end})))
print(pcall(tostring, setmetatable({}, {__tostring = function() return nil end})))
print(pcall(print, setmetatable({}, {__tostring = function() return {} end})))
print(pcall(tostring, setmetatable({}, {__tostring = function() error("ts err") end})))
print(tostring(setmetatable({}, {__tostring = function() return 3.5 end})))
print(type(tostring({})), type(tostring(print)))

print("== tonumber")
print(tonumber("42"), tonumber("0x2A"), tonumber("4.2e1"), tonumber("  42\t\n"), tonumber("42a"))
print(tonumber("101", 2), tonumber("zz", 36), tonumber("ZZ", 36), tonumber("2", 2))

print("== ipairs")
local t = {"a", "b", nil, "d"}
for i, v in ipairs(t) do print(i, v) end
local proxy = setmetatable({}, {__index = function(_, i) if i <= 3 then return i * 10 end end})
for i, v in ipairs(proxy) do print("proxy", i, v) end
local partial = setmetatable({1, 2}, {__index = {nil, nil, 3, 4}})
for i, v in ipairs(partial) do print("partial", i, v) end
local f, s, init = ipairs({})
print(type(f), type(s), init)
print(f({"x"}, 0))
print(f({"x"}, 1))
print(pcall(function() for _ in ipairs(nil) do end end))
print(pcall(function() for _ in ipairs(5) do end end))

print("== pairs / __pairs")
local keys = {}
for k, v in pairs({10, 20, 30}) do keys[#keys + 1] = k .. "=" .. v end
print(#keys)
local pp = setmetatable({}, {__pairs = function(t)
  local i = 0
  return function() i = i + 1; if i <= 3 then return i, "p" .. i end end, t, nil
end})
for k, v in pairs(pp) do print("__pairs", k, v) end
local pf, ps, pi = pairs({})
print(pf == next, type(ps), pi)
local pp2 = setmetatable({}, {__pairs = function(t) return 1, 2, 3, 4 end})
print(pairs(pp2))
-- sorted keys of a hash table
local h = {banana = 1, apple = 2, cherry = 3, date = 4}
local hk = {}
for k in pairs(h) do hk[#hk + 1] = k end
for i = 2, #hk do
  local v, j = hk[i], i - 1
  while j >= 1 and hk[j] > v do hk[j + 1] = hk[j]; j = j - 1 end
  hk[j + 1] = v
end
print(hk[1], hk[2], hk[3], hk[4])
-- clearing fields during traversal is allowed
local cl = {a = 1, b = 2, c = 3, 1, 2, 3}
for k in pairs(cl) do cl[k] = nil end
print(next(cl))

print("== next")
print(next({}), next({5}), next({5}, 1))
print(pcall(next, {}, "missing"))
print(pcall(next, {1, 2}, 3))
print(pcall(next, 5))

print("== select")
print(select("#"), select("#", nil), select("#", 1, 2, 3))
print(select(1, "a", "b"), select(-1, "a", "b"), select(2, "a"))
print(pcall(select, -3, "a", "b"))
print(pcall(select, 0, "a"))
print(select(2.0, "a", "b"))
print(pcall(select, 1.5, "a"))
print(select("2", "a", "b"))
print(select(100, "a"))

print("== rawequal / rawlen")
print(rawequal(1, 1.0), rawequal("a", "a"), rawequal({}, {}), rawequal(nil, nil), rawequal(1, "1"))
print(rawlen({1, 2}), rawlen(""), rawlen("abc"), rawlen(setmetatable({1}, {__len = function() return 99 end})))

print("== load with string chunks")
print(load("return 1 + 1")())
local fn, msg = load("return +")
print(fn, msg)
print(load("syntax error here"))
print(load("return ...", "=varargs")(1, 2))
print(load("x = ", "=mychunk"))
print(load("x = ", "@file.lua"))
print(load("x = ", "literal name"))
print(type(load("error('in loaded')", "=named")))
print(pcall(load("error('in loaded')", "=named")))
print(pcall(load("error('in loaded')", "@some/file.lua")))
print(pcall(load("\n\nerror('line 3')")))
print(pcall(load("local x = nil; return x.y", "=(load)")))
print(load("return 1", "chunk", "t")())
print(load("return 1", "chunk", "bt")())
print(load("\27Lua fake", "bin", "t"))
print(load("return 1", "txt", "b"))
print(pcall(load, "return 1", "c", "x"))
print(load("return 1", nil, nil)())

print("== load with reader functions")
local pieces = {"return ", "1 ", "+ ", "41"}
local idx = 0
print(load(function() idx = idx + 1; return pieces[idx] end)())
idx = 0
local parts2 = {"local a", " = 'split", " string'", " return a", ""}
print(load(function() idx = idx + 1; return parts2[idx] end)())
print(type(load(function() return nil end)))
print(pcall(load(function() return nil end)))
-- (a reader returning a number is converted to a string: not tested, loops forever)
-- (called through pcall: lua.c's traceback message handler would otherwise
-- be applied to errors raised inside load's protected parser)
print(pcall(load, function() return true end))
print(pcall(load, function() return {} end))
print(pcall(load, function() error("reader failed") end))
local lok, lf, le = pcall(load, function() error({}) end)
print(lok, lf, type(le))
local once = false
print(load(function() if not once then once = true; return "return 'ok'" end end, "=reader")())
local chars = {"r", "e", "t", "u", "r", "n", " ", "7"}
local ci = 0
print(load(function() ci = ci + 1; return chars[ci] end)())

print("== load env parameter")
local env = {y = 5}
local chunk = load("x = 10; return y", "=env", "t", env)
print(chunk(), env.x, x)
print(load("return _ENV", "=e", "t", env)() == env)
print(pcall(load("return print", "=noprint", "t", {})))
print(pcall(load("print('x')", "=noprint", "t", {})))
local genv = load("return _G", "=g")()
print(genv == _G)
print(pcall(load("return y", "=nilenv", "t", nil)))
local shared_env = {counter = 0}
local inc = load("counter = counter + 1; return counter", "=inc", "t", shared_env)
inc(); inc()
print(shared_env.counter)

print("== collectgarbage")
print(type(collectgarbage("count")), collectgarbage("count") > 0)
print(collectgarbage("collect"), collectgarbage())
print(type(collectgarbage("step")), type(collectgarbage("step", 0)))
print(collectgarbage("isrunning"))

print("== print")
print(nil, false, 1.5)
print()
print("a", "b", "c")
print("embedded\0zero", #"embedded\0zero")
print(1, nil, nil)
print(setmetatable({}, {__tostring = function() return "via __tostring" end}), 2)
print(pcall(print, setmetatable({}, {__tostring = function() return 1 end})))

print("== globals")
print(_G._G == _G, _G.print == print, _VERSION)
myglobal = "set"
print(_G.myglobal, rawget(_G, "myglobal"))
_G.another = 1
print(another)
local _ENV = {print = print}
newglobal = 5
print(newglobal, _ENV.newglobal)
