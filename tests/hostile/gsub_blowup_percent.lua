-- expect: fuel-or-error "not enough memory"
-- steps: 100
-- Attacks: gsub output explosion through "%0" captures of a big match repeated in the
-- replacement string: each match of a 1 MiB subject is copied 2000 times (2 GB and more).
local s = ("q"):rep(1024 * 1024)
return #s:gsub(".+", ("%0"):rep(5000))
