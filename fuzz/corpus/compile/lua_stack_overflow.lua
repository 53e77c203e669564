-- stack overflow is a catchable error (the exact message, which PUC gives as
-- "stack_overflow.lua:N: stack overflow", is deliberately not printed)
local function so() return 1 + so() end
local ok, e = pcall(so)
print("stack overflow:", ok, type(e))
-- the state is still usable afterwards
local function depth(n) if n == 0 then return 0 end return 1 + depth(n - 1) end
print(depth(1000))
-- a deep but finite recursion works
print(depth(50000))
