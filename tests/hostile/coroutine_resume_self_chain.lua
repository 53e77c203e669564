-- expect: fuel
-- steps: 30
-- Attacks: endless resume/yield ping-pong between the main thread and a coroutine wrapper:
-- must stay fuel-bounded with flat memory.
local a = coroutine.wrap(function() while true do coroutine.yield() end end)
while true do a() end
