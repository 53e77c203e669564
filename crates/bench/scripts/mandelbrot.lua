-- Mandelbrot set membership count: float arithmetic, while loops, no allocation.
local N = 500
local iter = 100
local inside = 0
local escaped_sum = 0
for y = 0, N - 1 do
  local ci = 2.0 * y / N - 1.0
  for x = 0, N - 1 do
    local cr = 2.0 * x / N - 1.5
    local zr, zi, zr2, zi2 = 0.0, 0.0, 0.0, 0.0
    local i = 0
    while i < iter and zr2 + zi2 <= 4.0 do
      zi = 2.0 * zr * zi + ci
      zr = zr2 - zi2 + cr
      zr2 = zr * zr
      zi2 = zi * zi
      i = i + 1
    end
    if i == iter then inside = inside + 1 else escaped_sum = escaped_sum + i end
  end
end
print(inside * 1000000 + escaped_sum)
