-- grants: debug
-- Line hooks: loops, jumps, calls, multi-line statements, locals seen from the hook.
local trace = {}
local function h(ev, line)
  trace[#trace + 1] = line
end
local function show(title)
  print(title, table.concat(trace, " "))
  trace = {}
end

local function loop(n)
  local s = 0
  for i = 1, n do
    s = s + i
  end
  return s
end
debug.sethook(h, "l")
loop(3)
debug.sethook()
show("for")

local function wloop()
  local i = 0
  while i < 3 do
    i = i + 1
  end
  repeat
    i = i - 1
  until i == 0
  return i
end
debug.sethook(h, "l")
wloop()
debug.sethook()
show("while/repeat")

local function gotos()
  local n = 0
  ::top:: n = n + 1
  if n < 3 then goto top end
  return n
end
debug.sethook(h, "l")
gotos()
debug.sethook()
show("goto")

local function multi(a,
                     b)
  local t = {
    a,
    b,
  }
  local s = a +
    b
  return t, s
end
debug.sethook(h, "l")
multi(1, 2)
debug.sethook()
show("multi-line")

local function cond(x)
  if x then
    return 1
  else
    return 2
  end
end
debug.sethook(h, "l")
cond(true); cond(false)
debug.sethook()
show("if")

-- iterators and closures
local function iter()
  local t = {}
  for k, v in ipairs({10, 20}) do
    t[k] = function() return v end
  end
  return t[1]() + t[2]()
end
debug.sethook(h, "l")
iter()
debug.sethook()
show("ipairs")

-- the hook sees the hooked function and its locals
local function inspect(ev, line)
  local info = debug.getinfo(2, "nSl")
  local names = {}
  local i = 1
  while true do
    local name, value = debug.getlocal(2, i)
    if not name then break end
    if name:sub(1, 1) ~= "(" then
      names[#names + 1] = name .. "=" .. (type(value) == "number" and value or type(value))
    end
    i = i + 1
  end
  print(ev, line, info.currentline, info.short_src, info.what, info.name,
    table.concat(names, ","))
end
local function locals(a, b)
  local c = a + b
  local d = c * 2
  return d
end
debug.sethook(inspect, "l")
locals(1, 2)
debug.sethook()

-- setlocal from a hook changes the running function
local function victim()
  local x = 1
  local y = 2
  return x + y
end
debug.sethook(function(ev, line)
  if debug.getinfo(2, "n").name == "victim" and debug.getlocal(2, 2) == "y" then
    debug.setlocal(2, 1, 40)
  end
end, "l")
print("setlocal", victim())
debug.sethook()

-- a hook on one line: "while true" with a break
debug.sethook(h, "l")
local k = 0
while true do k = k + 1 if k > 2 then break end end
debug.sethook()
show("one line")

-- no line events inside the hook itself
local depth = 0
debug.sethook(function(ev, line)
  depth = depth + 1
  trace[#trace + 1] = line
  local a = 1
  local b = 2
end, "l")
local z = 1
z = z + 1
debug.sethook()
show("no recursion")
print(depth)

-- a generic for whose header spans lines, a Rust function called in tail position
-- whose call spans lines
local function header()
  local s = 0
  for _, v in ipairs({1,
                      2}) do
    s = s + v
  end
  return s
end
local function tail()
  return setmetatable({}, {
    __index = false,
  })
end
debug.sethook(h, "l")
header()
tail()
debug.sethook()
show("for header, tail call")
