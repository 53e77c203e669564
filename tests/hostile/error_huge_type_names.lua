-- expect: ok
-- fuel: 10000
-- steps: 3000
-- Attack: error messages that quote a huge name: a 16 MiB `__name` in the messages of
-- type errors (a call, a comparison), of argument errors (`got ...`) and of `tostring`,
-- an 8 MiB identifier (a global; a 4 MiB local) in "attempt to call a nil value
-- (global '...')", `debug.traceback` of a 16 MiB message and `collectgarbage` of a
-- 16 MiB option.
-- PUC copies the whole name into each message, and so does lunette; the messages are
-- made of parts (the name's string itself, not a copy) and written by the string
-- builder in pieces across steps, each charged (#16); debug names are shared buffers,
-- quoted without a copy too. The 8 MiB global name, a long constant, is hashed in pieces
-- as its chunk is made (`instantiation`): its first use as a key took ~2 ms in one step.
local m = string.rep("x", 16 * 1024 * 1024)
local t = setmetatable({}, {__name = m})
local ok, e = pcall(function() return t() end)
assert(not ok and #e > #m and e:find("attempt to call a xxxx", 1, true))
ok, e = pcall(function() return t < t end)
assert(not ok and #e > #m and e:find("attempt to compare two xxxx", 1, true))
assert(#tostring(t) > #m)
ok, e = pcall(coroutine.wrap(function() return t() end))
assert(not ok and #e > #m and e:find("attempt to call a xxxx", 1, true))
ok, e = pcall(string.rep, t)
assert(not ok and #e > #m and e:find("got xxxx", 1, true))
assert(#debug.traceback(m) > #m)
ok, e = pcall(collectgarbage, m)
assert(not ok and #e > #m and e:find("invalid option 'xxxx", 1, true))
m, t, e = nil, nil, nil
local id = string.rep("y", 8 * 1024 * 1024)
local f = load("return " .. id .. "()")
ok, e = pcall(f)
assert(not ok and e:find("(global 'yyyy", 1, true) and #e > #id)
f, id = nil, string.rep("z", 4 * 1024 * 1024)
f = assert(load("local " .. id .. " = nil return " .. id .. "()"))
ok, e = pcall(f)
assert(not ok and e:find("(local 'zzzz", 1, true))
print("ok")
