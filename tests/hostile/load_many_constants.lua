-- expect: ok
-- Attacks: chunks that are cheap to compile per byte but make many objects when loaded:
-- 300,000 distinct number constants in one function, 25,000 nested functions, 50,000
-- distinct string constants. Making a loaded chunk's prototypes and constants took up to
-- 10 ms in the one step that finished paying for its `load`; big chunks are now made in
-- pieces of bounded work, a step boundary after each (`instantiation`).
local function numbers(n)
  local chunks = {}
  for c = 0, n // 10000 - 1 do
    local parts = {}
    for i = 1, 10000 do parts[i] = "x=" .. (100000 + c * 10000 + i) end
    chunks[c + 1] = table.concat(parts, "\n")
  end
  return table.concat(chunks, "\n")
end
local src = numbers(300000)
local f = assert(load(src))
src = nil
f()
assert(x == 400000)
f = nil
collectgarbage()

f = assert(load(("x=function() return 1 end\n"):rep(25000)))
f()
assert(x() == 1)
f = nil
collectgarbage()

local parts = {"local t = {}"}
for i = 1, 50000 do parts[#parts + 1] = ("t[%d] = 's%d'"):format(i, i) end
parts[#parts + 1] = "return t"
local t = assert(load(table.concat(parts, "\n")))()
assert(#t == 50000 and t[50000] == "s50000")
print("ok")
