-- expect: ok
-- Attacks: __index / __newindex chains that loop (table -> table cycles): must fail with
-- "'__index' chain too long; possible loop" (and the __newindex analogue), not hang.
local a, b = {}, {}
setmetatable(a, {__index = b})
setmetatable(b, {__index = a})
local ok, e = pcall(function() return a.x end)
assert(not ok and e:find("'__index' chain too long; possible loop", 1, true), e)
setmetatable(a, {__newindex = b})
setmetatable(b, {__newindex = a})
ok, e = pcall(function() a.x = 1 end)
assert(not ok and e:find("'__newindex' chain too long; possible loop", 1, true), e)
-- self loop
local s = {}
setmetatable(s, {__index = s})
assert(pcall(function() return s.k end) == false)
-- a long (but finite) chain of 1000 tables: PUC's limit is 2000 (MAXTAGLOOP)
local head = {}
local cur = head
for i = 1, 1000 do
  local nxt = {}
  setmetatable(cur, {__index = nxt})
  cur = nxt
end
cur.found = 42
assert(head.found == 42)
-- chains through strings' metatable and rawget bypass
assert(rawget(a, "x") == nil)
-- __index loop reached via the table library (which honours metamethods)
local ok2 = pcall(table.concat, setmetatable({}, {__index = a, __len = function() return 3 end}))
assert(not ok2)
local ok3 = pcall(table.insert, setmetatable({}, {__newindex = b, __len = function() return 1 end}), 5)
assert(not ok3)
