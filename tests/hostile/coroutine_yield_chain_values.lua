-- expect: fuel
-- fuel: 10000
-- overrun: 20000
-- steps: 100
-- Attack: 5,000 values yielded up a chain of 190 nested coroutine.wrap calls, over and over:
-- every level moves every value to the next thread's stack. The moves are paid for (1 unit
-- per 8 values) like other multi-value copies; they were free, ~60 ms a 10,000-fuel step.
local vals = {}
for i = 1, 5000 do vals[i] = i end
local function level(n)
  if n == 0 then
    while true do coroutine.yield(table.unpack(vals)) end
  end
  local inner = coroutine.wrap(level)
  while true do coroutine.yield(inner(n - 1)) end
end
local top = coroutine.wrap(level)
while true do top(190) end
