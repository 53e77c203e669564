-- expect: error "not enough memory"
-- fuel: 10000
-- overrun: 20000
-- steps: 5000
-- Attacks: a chunk whose compiled form is much bigger than its source (40 nested functions
-- each capturing 190 upvalues: ~45 bytes of prototype per source byte), loaded again and
-- again and kept. The compiler holds its structures within what the memory limit has left
-- ("not enough memory" past it) and the loaded prototypes (code, constants, upvalue and
-- local names, the chunk name) are charged to the VM, so the hoarding ends in "not enough
-- memory" near the 64 MiB limit, not in the host running out.
local function chain(depth, names)
  local p = {}
  for i = 1, names do p[#p + 1] = "local u" .. i .. " = " .. i end
  for _ = 1, depth do p[#p + 1] = "local function f()" end
  for i = 1, names do p[#p + 1] = "x = u" .. i end
  for _ = 1, depth do p[#p + 1] = "end" end
  return table.concat(p, "\n")
end
local src = chain(40, 190)
local keep = {}
for i = 1, 100000 do
  keep[i] = assert(load(src))
end
