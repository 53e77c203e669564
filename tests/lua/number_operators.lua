-- %, //, ^, bitwise operators, unary minus and ~ on every pair of number kinds: the
-- interpreter computes number cases in place and leaves the rest (errors, coercions,
-- metamethods) to its general path; both must give PUC's results.
local mi, ma = math.mininteger, math.maxinteger
local vals = {0, 1, -1, 7, -7, 3, mi, ma, 0.0, -0.0, 2.5, -2.5, 1/0, -1/0, 0/0, 2^53}
local function show(ok, v)
  if not ok then return "E(" .. tostring(v):gsub("^.-:%d+: ", "") .. ")" end
  if v ~= v then return "nan" end
  return math.type(v) .. ":" .. string.format("%.17g", v)
end
local ops = {
  {"%", function(a, b) return a % b end},
  {"//", function(a, b) return a // b end},
  {"^", function(a, b) return a ^ b end},
  {"&", function(a, b) return a & b end},
  {"|", function(a, b) return a | b end},
  {"~", function(a, b) return a ~ b end},
  {"<<", function(a, b) return a << b end},
  {">>", function(a, b) return a >> b end},
}
for _, op in ipairs(ops) do
  local line = {}
  for _, a in ipairs(vals) do
    for _, b in ipairs(vals) do
      line[#line + 1] = show(pcall(op[2], a, b))
    end
  end
  print(op[1], table.concat(line, " "))
end
-- Constant operands (the K and immediate forms).
for _, a in ipairs(vals) do
  print(a, show(pcall(function() return a % 7 end)), show(pcall(function() return a % -7 end)),
    show(pcall(function() return a // 2 end)), show(pcall(function() return a // -2.5 end)),
    show(pcall(function() return a ^ 2 end)), show(pcall(function() return a & 0xff end)),
    show(pcall(function() return a | 1 end)), show(pcall(function() return a ~ 5 end)),
    show(pcall(function() return a >> 3 end)), show(pcall(function() return 1 << a end)),
    show(pcall(function() return -a end)), show(pcall(function() return ~a end)))
end
-- Shifts past the width, negative counts.
for _, n in ipairs({-65, -64, -63, -1, 0, 1, 63, 64, 65}) do
  print(n, 1 << n, -1 >> n, mi >> n, ma << n)
end
-- Strings and metamethods take the general path.
print("10" % 3, "7" // "2", "2" ^ 3, -"3", pcall(function() return "6" & 3 end))
local mt = {
  __mod = function() return "mod" end, __idiv = function() return "idiv" end,
  __pow = function() return "pow" end, __band = function() return "band" end,
  __shl = function() return "shl" end, __unm = function() return "unm" end,
  __bnot = function() return "bnot" end,
}
local o = setmetatable({}, mt)
print(o % 1, 1 // o, o ^ 2, 3 & o, o << 1, -o, ~o)
print(pcall(function() return {} % 2 end))
print(pcall(function() local t = {} return 1.5 & t end))

-- `^` is a float; a square is x * x, folded or not
local sq = {0.1, 1/3, 1e155, -2.5, 3, 7, 2^53 + 1, -0.0}
for _, x in ipairs(sq) do
  print(string.format("%.17g %.17g %.17g", x ^ 2, x ^ 2.0, x ^ 3), math.type(3 ^ 2))
end
print(string.format("%.17g %.17g %.17g", 0.1 ^ 2, (1/3) ^ 2, 7 ^ 0.5), 2 ^ 63 == math.maxinteger + 1.0)
local ints = 0
for i = -300, 300, 7 do ints = ints + (i // 7) + (i & 0xff) + (i | 3) + (i ~ 5) + (i << 3) + (i >> 2) + (1 << (i % 70)) end
print(ints)
