-- A C function used as a metamethod that rejects its arguments: the error names the
-- metamethod's event, as PUC's funcnamefromcode does ("metamethod 'add'" -> 'add').
local t = setmetatable({}, {
  __index = string.rep, __newindex = string.rep, __add = string.rep, __sub = string.rep,
  __mul = string.rep, __div = string.rep, __mod = string.rep, __pow = string.rep,
  __unm = string.rep, __idiv = string.rep, __band = string.rep, __bor = string.rep,
  __bxor = string.rep, __shl = string.rep, __shr = string.rep, __bnot = string.rep,
  __len = string.rep, __concat = string.rep, __eq = string.rep, __lt = string.rep,
  __le = string.rep, __close = string.rep,
})
local u = setmetatable({}, getmetatable(t))
local cases = {
  function() return t.x end,
  function() return t[1] end,
  function() t.x = 1 end,
  function() t[1] = 1 end,
  function() return t + 1 end,
  function() return 1 - t end,
  function() return t * t end,
  function() return t / 2 end,
  function() return t % 2 end,
  function() return t ^ 2 end,
  function() return -t end,
  function() return t // 2 end,
  function() return t & 1 end,
  function() return t | 1 end,
  function() return t ~ 1 end,
  function() return t << 1 end,
  function() return t >> 1 end,
  function() return ~t end,
  function() return #t end,
  function() return t .. "x" end,
  function() return t == u end,
  function() return t < u end,
  function() return t <= u end,
  function() return t > 1 end,
  function() return t >= 1 end,
  function() local c <close> = t end,
  function() do local c <close> = t end return 1 end,
}
for i, f in ipairs(cases) do
  print(i, pcall(f))
end
