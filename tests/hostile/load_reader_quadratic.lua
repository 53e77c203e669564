-- expect: fuel-or-error "memory"
-- steps: 100
-- Attacks: load with a reader returning one-byte pieces forever. Each piece must cost
-- O(1): if load re-copies everything accumulated so far on each piece (and charges only the
-- piece), time and garbage grow quadratically per fuel unit and a single step allocates
-- without bound.
load(function() return " " end)
