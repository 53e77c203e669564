-- expect: ok
-- fuel: 10000
-- steps: 3000
-- Attack: error messages that quote a huge name: a 16 MiB `__name` in the messages of
-- type errors (a call, a comparison) and of `tostring`, and an 8 MiB
-- identifier (a global; a 4 MiB local) in "attempt to call a nil value (global '...')".
-- PUC copies the whole name into each message; so does lunette, in one step.
-- NOT YET BOUNDED (#16): each such message is built in the step that raises it, with
-- several uncharged copies of the name (a step of 140 ms and a process peak of 100 MB
-- under the 64 MiB limit here); its fuel is not charged by length. The suite keeps the
-- attack so that its cost stays measured (`steps` tool).
local m = string.rep("x", 16 * 1024 * 1024)
local t = setmetatable({}, {__name = m})
local ok, e = pcall(function() return t() end)
assert(not ok and #e > #m and e:find("attempt to call a xxxx", 1, true))
ok, e = pcall(function() return t < t end)
assert(not ok and #e > #m and e:find("attempt to compare two xxxx", 1, true))
assert(#tostring(t) > #m)
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
