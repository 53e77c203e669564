-- expect: ok
-- Attacks: compile-time limits reached from inside Lua with load: very long concatenation
-- chains a..b..c.. (right-associative: PUC limits them by C levels), long left-assoc
-- chains, 250+ values in a table constructor / return list / vararg call, more than 200
-- locals, more than 255 upvalues, huge numbers of constants and string literals, long
-- identifiers, gotos into the scope of a local, duplicate labels, jumps across huge blocks.
local function fails(src, want)
  local f, e = load(src)
  assert(f == nil, "should not compile: " .. src:sub(1, 60))
  if want then assert(e:find(want, 1, true), e) end
end
fails("return a" .. (" .. a"):rep(300), nil)
assert(load("local a = 'x' return a" .. (" .. a"):rep(150)))
local manyvals = {}
for i = 1, 1000 do manyvals[i] = tostring(i) end
local vals = table.concat(manyvals, ",")
assert(#load("return {" .. vals .. "}")() == 1000)
assert(select("#", load("return " .. table.concat(manyvals, ",", 1, 250))()) == 250)
fails("return " .. vals, "registers")
fails("print(" .. vals .. ")", "registers")
assert(load("local t = {" .. ("1,"):rep(100000) .. "} return #t")() == 100000)
local locals = {}
for i = 1, 201 do locals[i] = "local l" .. i .. " = " .. i end
fails(table.concat(locals, "\n"), "too many local variables")
fails("local " .. table.concat(manyvals, ",", 1, 201):gsub("(%d+)", "x%1"), "too many local variables")
-- upvalues: 300 distinct locals from enclosing functions
local outer = {}
for i = 1, 150 do outer[#outer + 1] = "local a" .. i .. " = " .. i end
outer[#outer + 1] = "return function()"
for i = 1, 150 do outer[#outer + 1] = "local b" .. i .. " = " .. i end
outer[#outer + 1] = "return function() return 0"
for i = 1, 150 do outer[#outer + 1] = "+a" .. i .. "+b" .. i end
outer[#outer + 1] = " end end"
fails(table.concat(outer, "\n"), "too many upvalues")
-- many constants and long names
local ks = {}
for i = 1, 100000 do ks[i] = ("x = %q"):format("s" .. i) end
assert(load(table.concat(ks, "\n")))
local long = ("n"):rep(1000000)
assert(load("local " .. long .. " = 1 return " .. long)() == 1)
assert(load("return " .. ("9"):rep(100000))() == math.huge or true)
-- goto into the scope of a local, undefined and duplicate labels, continue-like patterns
fails("goto f; local x; ::f:: print(x)", "jumps into the scope of local 'x'")
fails("goto nowhere", "no visible label 'nowhere'")
fails("::a:: ::a::", "label 'a' already defined")
fails("do ::a:: end ::a:: ::a::", "already defined")
assert(load("do goto f; local x; ::f:: end"))
assert(load("repeat local x; goto cont; ::cont:: until true") or true)
fails("repeat goto cont; local x; ::cont:: until x", "jumps into the scope of local 'x'")
assert(load("goto e; do local a end ::e::"))
fails("break", "break outside")
fails("return return", nil)
fails("local function f() return ... end", "cannot use '...' outside a vararg function")
fails("x = ", nil)
fails(("x = 1 "):rep(100000) .. " +", nil)
fails("a.b:c = 1", nil)
fails("f() = 1", "syntax error")
fails("local <const> x = 1", nil)
fails("local x <const>; x = 1", "attempt to assign to const variable 'x'")
fails("for i = 1 do end", nil)
fails("for a, b, c, d in 1 do end x =", nil)
fails("return 1 .. ", nil)
fails("\"" .. ("x"):rep(1000000), "unfinished string")
fails("[[" .. ("x"):rep(1000000), "unfinished long string")
fails("--[[" .. ("x"):rep(1000000), "unfinished long comment")
fails("return 0x", "malformed number")
fails("return 1e", "malformed number")
fails("return 3..2", "malformed number")
fails("return '\\400'", "decimal escape too large")
fails("return '\\u{110000000}'", "UTF-8 value too large")
fails("return '\\xZZ'", "hexadecimal digit expected")
fails("return '\\q'", "invalid escape sequence")
fails("x = @", "unexpected symbol")
fails("return [==[ ]=]", "unfinished long string")
fails("return [=x", "invalid long string delimiter")
