-- expect: error "overflow"
-- steps: 300
-- Attacks: an endless chain of nested resumes (each coroutine creates and resumes the next,
-- and none ever returns). PUC stops it at ~200 levels ("C stack overflow"); Lua-to-Lua
-- recursion is stopped at 200000 frames ("stack overflow"). A resume chain must have a
-- limit too, or memory grows without bound (only fuel limits it).
local function chain()
  local co = coroutine.wrap(chain)
  co()
end
chain()
