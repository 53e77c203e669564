-- expect: fuel
-- fuel: 10000
-- overrun: 5000
-- steps: 40
-- Attack: functions whose chunk name is 6 MiB raise errors and build tracebacks in a loop
-- (runtime errors, `error` with positions, `debug.traceback`, errors through coroutine.wrap,
-- for every chunk-name form: "=name", "@file", source text with and without a newline).
-- Messages show PUC's short chunk id (at most 59 bytes): no message may look at (let alone
-- copy) the whole name. (The overrun bound covers the setup: `string.rep` and the `..`
-- build 6 MiB strings in pieces, and `load` charges as it reads the name; the loop itself
-- overruns by a few units.)
local big = string.rep("x", 6 * 1024 * 1024)
local fs = {}
for _, name in ipairs{"=" .. big, "@" .. big, big, "a\n" .. big} do
  local f = assert(load("local t = ... if t == 1 then return nil + 1 elseif t == 2 then error('e', 2) end error('e')", name))
  fs[#fs + 1] = f
  name = nil
end
big = nil
local function handler(m) return debug.traceback(m, 1) end
while true do
  for _, f in ipairs(fs) do
    for t = 0, 2 do
      local ok, e = pcall(f, t)
      assert(not ok and #e < 200, e)
      ok, e = xpcall(f, handler, t)
      assert(not ok and #e < 4000, #e)
      ok, e = pcall(coroutine.wrap(f), t)
      assert(not ok and #e < 300, e)
    end
  end
end
