-- expect: ok
-- Attacks: string.format with huge widths/precisions ("invalid conversion" in PUC),
-- unknown conversions, too few arguments, %q of every type, %s of objects with odd
-- __tostring, and long format strings.
local function bad(fmt, ...)
  local ok, e = pcall(string.format, fmt, ...)
  assert(not ok, "expected an error for " .. fmt)
  return e
end
assert(bad("%99999d", 1):find("invalid conversion"))
assert(bad("%999d", 1):find("invalid conversion"))
assert(bad("%.999f", 1):find("invalid conversion"))
assert(bad("%1$d", 1):find("invalid conversion"))
assert(bad("%", 1):find("invalid conversion"))
assert(bad("%y", 1):find("invalid conversion"))
assert(bad("%-+ #0-+ #0d", 1):find("invalid conversion"))
assert(bad("%" .. ("9"):rep(100000) .. "d", 1):find("invalid"))
assert(bad("%.q", "x"):find("specifier '%q' cannot have modifiers", 1, true) or true)
assert(bad("%10q", "x"))
assert(bad("%d"):find("no value"))
assert(bad("%d", "x"):find("number expected"))
assert(bad("%d", 1.5):find("number has no integer representation"))
pcall(string.format, "%c", 2^40)
assert(bad("%q", {}):find("value has no literal form"))
assert(bad("%q", print))
assert(bad("%s %s %s", 1, 2))
assert(#string.format("%99d", 1) == 99)
assert(#string.format("%-99s|", "x") == 100)
assert(#string.format("%.99s", ("x"):rep(1000)) == 99)
assert(string.format("%q", math.mininteger) == "0x8000000000000000")
assert(string.format("%q", 1/0) == "1e9999" and string.format("%q", -1/0) == "-1e9999")
assert(string.format("%q", 0/0) == "(0/0)")
assert(string.format("%q", "\0\1\r\n\"\\\255") ~= nil)
assert(load("return " .. string.format("%q", "\0\1\r\n\"\\\255\127"))() == "\0\1\r\n\"\\\255\127")
assert(string.format("%s", setmetatable({}, {__tostring = function() return "ok" end})) == "ok")
local e = bad("%s", setmetatable({}, {__tostring = function() return {} end}))
assert(e:find("'__tostring' must return a string"), e)
e = bad("%s", setmetatable({}, {__tostring = function() error("boom") end}))
assert(e:find("boom"), e)
assert(string.format("%s", setmetatable({}, {__name = "MyType"})):find("^MyType: "))
assert(string.format("%s", setmetatable({}, {__name = {}})):find("^table: "))
-- a format string of 100k conversions
local fmt = ("%d"):rep(100000)
local args = {}
for i = 1, 100000 do args[i] = i % 10 end
assert(#string.format(fmt, table.unpack(args)) == 100000)
-- %s with a 1 MiB string and a width
assert(#string.format("%5s", ("x"):rep(1 << 20)) == 1 << 20)
assert(bad("%5.", 1))
