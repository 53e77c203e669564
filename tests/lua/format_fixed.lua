-- string.format("%f") of values whose decimals need no rounding (an integer fast path) and of
-- values that do, at many precisions, widths and flags: as PUC 5.4.8 prints them.
local vals = {0, -0.0, 0.5, 1.5, 2.5, 0.25, 0.125, 0.1, 0.3, 1/3, 2/3, 12.5, 1e15, 1e16, 2^50, 2^50-1, 2^49+0.5, 123456.789, 0.05, 0.15, 0.35, 1e-5, 5e-324, 1.7976931348623157e308, 99.95, 99.995, 0.9999999, 7, 3.0, 1e10 + 0.5}
local out = {}
for _, v in ipairs(vals) do
  for _, p in ipairs{0, 1, 2, 3, 5, 6, 10, 15, 16, 20} do
    out[#out + 1] = string.format("%." .. p .. "f|%5." .. p .. "f|%-+12." .. p .. "f|%#." .. p .. "f", v, -v, v, v)
  end
end
for i = 1, 200 do
  local v = i * 0.5 + (i % 7) * 0.125
  out[#out + 1] = string.format("%5.1f %.3f %.0f %f", v, v / 3, v, -v)
end
print(table.concat(out, "\n"))
