-- expect: fuel
-- steps: 100
-- Attacks: millions of short-lived suspended coroutines (garbage): the collector must keep
-- memory flat.
while true do
  local co = coroutine.wrap(function() coroutine.yield(1) end)
  co()
end
