-- expect: error "not enough memory"
-- Attacks: string.pack output built inside a single call and charged only afterwards:
-- five 'c214748364' items zero-fill over 1 GB in one step (then the trailing bad option
-- errors), ~33M units over a 100k budget. The output should be charged as it grows (and
-- refused past the budget), so no step does unbounded work.
return string.pack("c214748364c214748364c214748364c214748364c214748364!", "", "", "", "", "")
