-- expect: ok
-- fuel: 10000
-- steps: 4000
-- Attack: string.pack and string.packsize over formats of millions of items (`x` padding
-- takes no argument, so an 8 MiB format is 8 million items and an 8 MiB result): each
-- call ran all of them in one step (pack: 300 ms and 8.6 million units of fuel charged
-- after the fact; packsize: 90 ms). Both now work 256 items at a time and pause at step
-- boundaries when the fuel runs out, pack keeping its output in 64 KiB parts (the result
-- joined by the string builder).
local n = 8 * 1024 * 1024
for _ = 1, 2 do
  local s = string.pack(("x"):rep(n))
  assert(#s == n and s:sub(1, 4) == "\0\0\0\0")
  assert(string.packsize(("i4"):rep(n // 4)) == n)
end
local t = {}
for i = 1, 150 do t[i] = i end
local f = ("xB"):rep(150) .. ("x"):rep(1000000)
local s = string.pack(f, table.unpack(t))
assert(#s == 1000300 and s:byte(2) == 1 and s:byte(300) == 150)
assert(not pcall(string.pack, ("x"):rep(n) .. "b", 300))
print("ok")
