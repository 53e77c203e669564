-- expect: fuel
-- steps: 50
-- Attacks: a numeric for loop with a huge count and an empty body; must check fuel on its
-- backward jump.
for i = 1, math.maxinteger do end
