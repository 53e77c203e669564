-- expect: ok
-- fuel: 10000
-- overrun: 40000
-- steps: 20000
-- Attacks: string.format doing a lot of slow work in one call: 5000 "%99.99f" conversions
-- of -1e308 (410 bytes each, exact decimal conversion of a huge float) in one call, and
-- "%.99f" of -1e308 in a loop. Each conversion must be charged by its output (bounded
-- before it is formatted) and the call done in pieces that pause when fuel runs out. The
-- overrun bound is the final string (2 MiB assembled in one go, ~32K units); unfixed, the
-- call charged 64K units at once after seconds of work (with 10^5 conversions).
local args = {}
for i = 1, 5000 do args[i] = -1e308 end
local s = string.format(("%99.99f"):rep(5000), table.unpack(args))
assert(#s == 5000 * 410)
for _ = 1, 2000 do
  local t = string.format("%.99f", -1e308)
  assert(#t == 410)
end
