-- Hand-edited output: PUC seeds the generator from the clock and an address, so its first
-- line would print "false false". lunette is deterministic by design: a fresh VM behaves as
-- after math.randomseed(0), and math.randomseed() derives its seed from the generator state.
local a, b = math.random(0), math.random(0)
math.randomseed(0)
print(a == math.random(0), b == math.random(0))

math.randomseed(5)
local s1, s2 = math.randomseed()
local x = math.random(0)
math.randomseed(5)
local t1, t2 = math.randomseed()
print(s1 == t1, s2 == t2, x == math.random(0))
print(math.type(s1), math.type(s2))
-- reseeding with the returned components reproduces the sequence
math.randomseed(s1, s2)
print(x == math.random(0))
