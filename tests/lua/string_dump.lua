-- string.dump and binary chunks (only behaviour shared by PUC and lunette: the bytes differ)

-- a function with upvalues: the loaded copy gets _ENV (the globals) as its first upvalue,
-- nil for the others
local count = 10
local function counter(step)
  count = count + step
  return count
end
local d = string.dump(counter)
print(type(d), d:sub(1, 4) == "\27Lua")
local f = load(d, "counter", "b")
print(type(f))
print(pcall(f, 1)) -- its first upvalue is now the global table: arithmetic on a table
print(counter(1), count)

-- a function whose only upvalue is _ENV works as before
local function greet(name) return string.format("hello %s", name) end
local g = assert(load(string.dump(greet)))
print(g("dump"))

-- strip
local s = string.dump(greet, true)
print(#s <= #string.dump(greet), assert(load(s))("strip"))

-- env argument becomes the first upvalue
local function get_x() return x end
local env = { x = "from env" }
print(load(string.dump(get_x), "gx", "b", env)())
print(load(string.dump(get_x), "gx", "bt")())

-- nested functions, varargs, closures inside
local function make(...)
  local t = { ... }
  local function sum()
    local acc = 0
    for _, v in ipairs(t) do acc = acc + v end
    return acc
  end
  return sum(), select("#", ...)
end
print(load(string.dump(make))(1, 2, 3, 4))

-- a dumped main chunk
local chunk = load("local a, b = ... return a * b, _VERSION ~= nil")
print(load(string.dump(chunk))(6, 7))

-- mode checks
print(load(string.dump(greet), "m", "t"))
print(load("return 1", "m", "b"))
print(load(string.dump(greet), "m", "bt") ~= nil)

-- Rust/C functions cannot be dumped; other values are argument errors
print(pcall(string.dump, print))
print(pcall(string.dump, 42))
print(pcall(string.dump))

-- corrupted and truncated chunks fail (messages differ between implementations)
local bytes = string.dump(make)
print(load(bytes:sub(1, #bytes // 2)) == nil)
print(load(bytes:sub(1, 10)) == nil)
print(load("\27Lua") == nil)
print(load("\27") == nil)
local ok = pcall(load, bytes:sub(1, 20) .. string.rep("\255", 40))
print(ok)

-- a reader function may deliver a binary chunk in pieces
local pieces, i = {}, 0
for k = 1, #d, 7 do pieces[#pieces + 1] = d:sub(k, k + 6) end
local r = load(function() i = i + 1 return pieces[i] end, "=pieces", "b")
print(type(r))
