-- expect: ok
-- fuel: 10000
-- overrun: 20000
-- steps: 5000
-- Attack: 200,000 finalizers queued by one full collection (the host's), half of them on
-- objects whose metatable lost its __gc before they died (nothing to call: the queue must
-- still be walked in bounded, charged pieces), then more garbage with finalizers while the
-- first queue is still running. Every finalizer runs exactly once, newest first.
local n = 100000
local ran, last = 0, math.huge
local live = {__gc = function(o)
  ran = ran + 1
  assert(o[1] < last, "finalizers run newest first")
  last = o[1]
end}
local gone = {__gc = function() error("removed before collection") end}
for i = 1, n do
  setmetatable({i}, live)
  setmetatable({i}, gone)
end
gone.__gc = nil
-- (The object is made in a callee, so no dead register of this frame keeps it.)
local function fill(p) p[1] = {} end
local function collected()
  local probe = setmetatable({}, {__mode = "v"})
  fill(probe)
  while #probe > 0 do end
end
collected()
-- a second wave while the first may still be running
local second = 0
for i = 1, 1000 do setmetatable({}, {__gc = function() second = second + 1 end}) end
while ran < n or second < 1000 do collected() end
assert(ran == n and second == 1000, ran .. " " .. second)
