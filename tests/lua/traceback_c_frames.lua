-- Tracebacks name the Rust function that raised ([C]: in function 'error') and metamethod frames (in metamethod 'add'), with no frame for xpcall's handler, like PUC.
print(select(2, xpcall(function() error('x') end, debug.traceback)))
local t = setmetatable({}, {__add = function(a, b) error('bad add') end})
print(pcall(function() return t + 1 end))
print(select(2, xpcall(function() return t + 1 end, debug.traceback)))
print(select(2, xpcall(function() local x = nil; return x.y end, debug.traceback)))
print(select(2, xpcall(function() error('x') end, function(m) return debug.traceback(m, 2) end)))
print(xpcall(function() error('x') end, function(m) error('in handler') end))
local mt = {}
mt.__index = function(t, k) error("no field " .. k) end
mt.__lt = function(a, b) error("cmp") end
mt.__concat = function(a, b) error("cat") end
mt.__len = function(a) error("len") end
mt.__unm = function(a) error("unm") end
local t = setmetatable({}, mt)
for _, f in ipairs{function() return t.x end, function() return t < t end, function() return t .. "" end, function() return #t end, function() return -t end} do
  print(select(2, xpcall(f, debug.traceback)))
end
do
  local c <close> = setmetatable({}, {__close = function() print(debug.traceback("closing")) end})
end
