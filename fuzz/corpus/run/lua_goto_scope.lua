-- goto / labels / scope edge cases

local function try(src)
  local f, err = load(src, "=src")
  if f then
    print("ok", f())
  else
    print("compile error", err)
  end
end

print("== valid uses")
-- jump to a label at the end of a block, even past local declarations
try([[
  local r = ""
  for i = 1, 3 do
    if i == 2 then goto continue end
    local x = i * 10
    r = r .. x .. " "
    ::continue::
  end
  return r
]])
-- label at end of block followed by only void statements
try([[
  do
    goto e
    local x = 1
    ::e:: ;;
  end
  return "void statements after label"
]])
-- backward goto loop
try([[
  local n = 0
  ::loop::
  n = n + 1
  if n < 10 then goto loop end
  return n
]])
-- nested functions have their own labels
try([[
  local function f()
    goto l
    do return "skipped" end
    ::l::
    return "inner"
  end
  goto l
  do return "skipped" end
  ::l::
  return f()
]])
-- same label name in different blocks
try([[
  local s = ""
  do goto a; s = s .. "x"; ::a:: s = s .. "1" end
  do goto a; s = s .. "y"; ::a:: s = s .. "2" end
  return s
]])
-- goto out of nested loops
try([[
  for i = 1, 3 do
    for j = 1, 3 do
      while true do
        if i + j == 5 then goto out end
        break
      end
    end
  end
  ::out::
  return "escaped"
]])
-- closures in backward-goto loops get fresh locals
try([[
  local fs = {}
  local i = 1
  ::top::
  local x = i
  fs[i] = function() return x end
  i = i + 1
  if i <= 3 then goto top end
  return fs[1](), fs[2](), fs[3]()
]])
-- 'goto continue' inside repeat-until: label before until, until may see locals only if declared before the label
try([[
  local i = 0
  local r = ""
  repeat
    i = i + 1
    if i % 2 == 0 then goto cont end
    r = r .. i
    ::cont::
  until i >= 6
  return r
]])
-- goto is a regular identifier-free keyword: 'goto' used as a field name is fine
try([[
  local t = {}
  t["goto"] = 1
  return t["goto"]
]])

print("== compile errors")
try("goto nowhere")
try("do ::dup:: ::dup:: end")
try("::a:: do ::a:: end")
try("goto f; local x; ::f:: print(x)")
try("do goto f; local x; ::f:: x = 1 end")
try("break")
try("if true then break end")
try("local function f() break end")
try("for i = 1, 2 do local function g() break end end")
try("do goto l end do ::l:: end")
try("repeat goto cont; local x; ::cont:: until x")
try("local x <const> = 1; x = 2")
try("return return")
try("x =")
try("local 1 = 2")
try("f(")
try("a.b:c = 1")
try("(a) = 1")
try("a, b() = 1, 2")
try("for i = 1 do end")
try("for a, b = 1, 2 do end")
try("function f(a, ...) return ... end function g() return ... end")
try("local t = {1, 2")
try("if x then")
try("else")
try("x = }")
try("::1::")
try("goto 1")
try("local function end")
try("return 1,")
try("x = 1 + + 2")
try("x = a..")
try("return not")

print("== line numbers in compile errors")
try("local a = 1\n\ngoto nowhere\n")
try("do\n  goto f\n  local x\n  ::f::\n  print(x)\nend")
try("::l::\nlocal y\n::l::")
try("while true do\nend\nbreak")
try("x = 1\ny = 2\nz = = 3")
try("local s = [[\n\n")
try("f(\n1,\n2")
