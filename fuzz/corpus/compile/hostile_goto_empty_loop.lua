-- expect: fuel
-- steps: 50
-- Attacks: the tightest possible infinite loops: `::a:: goto a`, `while true do end`,
-- `repeat until false`: every backward jump must check fuel.
::a:: goto a
