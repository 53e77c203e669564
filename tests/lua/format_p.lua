-- string.format("%p"): objects' identities (never addresses are printed here, only compared).
local function p(v) return string.format("%p", v) end

-- long strings (more than 40 bytes) are objects: distinct ones differ, one is itself
local a = string.rep("x", 50)
local b = string.rep("x", 50)
local c = a
print(p(a) == p(b), p(a) == p(c), a == b)
local t = {a}
print(p(t[1]) == p(a))

-- short strings are interned: one identity per content
local s1, s2 = "short", "sh" .. "ort"
print(p(s1) == p(s2), p(s1) ~= p("other"), p(s1) ~= p(a))
print(p(string.rep("y", 40)) == p(string.rep("y", 40)))

-- tables, functions, threads: their identity; other values: (null)
local tt = {}
print(p(tt) == p(tt), p(tt) ~= p({}), p(print) == p(print), p(p) ~= p(print))
local co = coroutine.create(print)
print(p(co) == p(co), p(co) ~= p(coroutine.create(print)))
print(p(nil), p(true), p(1), p(2.5))
print(string.format("[%10p][%-10p]", nil, false))

-- identities last: after much work (steps, snapshots, images) they are the same
local before_a, before_t, before_co = p(a), p(tt), p(co)
local long_keep = {}
for i = 1, 2000 do
  long_keep[i % 10 + 1] = string.rep("z", 41 + i % 3)
end
collectgarbage()
print(p(a) == before_a, p(tt) == before_t, p(co) == before_co, p(b) ~= before_a)
