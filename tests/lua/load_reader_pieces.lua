-- `load` with a reader: pieces of every size, joined in order (small ones in runs).
local function reader_of(text, sizes)
  local pos, k = 1, 0
  return function()
    if pos > #text then return nil end
    k = k + 1
    local n = sizes[(k - 1) % #sizes + 1]
    local piece = text:sub(pos, pos + n - 1)
    pos = pos + n
    return piece
  end
end

local lines = {}
for i = 1, 400 do
  lines[#lines + 1] = string.format("t[%d] = %q", i, string.rep(string.char(97 + i % 26), i % 7))
end
local source = "local t = {}\n" .. table.concat(lines, "\n") .. "\nreturn t"

for _, sizes in ipairs({ { 1 }, { 1, 2, 3 }, { 300, 1, 1, 1 }, { 255, 256, 257 }, { 5000 } }) do
  local f, err = load(reader_of(source, sizes), "=pieces")
  local t = f()
  local sum = 0
  for i = 1, #t do sum = sum + #t[i] * i end
  print(#sizes, err, #t, sum, t[1], t[400])
end

-- A syntax error's line is counted across pieces.
print(load(reader_of("local x = 1\n\n\nlocal = 2", { 1 }), "=bad"))
-- An empty piece ends the chunk, like nil.
local calls = 0
print(load(function() calls = calls + 1; if calls == 1 then return "return 7" end return "" end)())
