-- String building: `..` in a loop, then table.concat of many pieces.
local checksum = 0

-- Repeated `..` concatenation of short strings (creates many intermediates).
for round = 1, 80 do
  local s = ""
  for i = 1, 2000 do
    s = s .. (i % 10)
  end
  checksum = checksum + #s + round
end

-- Multi-operand concatenation with numbers (one CONCAT of several values).
for i = 1, 400000 do
  local s = "item" .. i .. ":" .. (i * 3) .. ";"
  checksum = checksum + #s
end

-- table.concat of a large buffer, rebuilt several times.
for round = 1, 40 do
  local buf = {}
  for i = 1, 10000 do
    buf[#buf + 1] = "line " .. i
  end
  local s = table.concat(buf, "\n")
  checksum = checksum + #s + round
end

print(checksum)
