local t = setmetatable({}, {__index = function(t, k) return k end, __call = function(...) return select('#', ...) end})
local co = coroutine.wrap(function(...) local x <close> = nil; coroutine.yield(t[1] + t(1, 2)) return ... end)
print(co(1), pcall(co, 2), string.format("%q", 1/3), ("abc"):gsub("%w", {a = 1}), #utf8.char(1, 0x10FFFF))
goto done
do print("skipped") end
::done::
