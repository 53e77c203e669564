-- expect: fuel
-- steps: 20
-- Attacks: a `goto continue` inside repeat-until whose condition never becomes true: the
-- `until` comparison's jump back to the loop start is a backward conditional jump that used
-- to be taken inline without a fuel check, so the step never returned (a hang; fixed). Found
-- by cargo-fuzz
-- (libFuzzer timeout) from a mutation of the tests/lua/goto_scope.lua seed; minimized.
local i = 0
repeat
  i = i + 0
  if i % 2 == 0 then goto cont end
  ::cont::
until i >= 6
