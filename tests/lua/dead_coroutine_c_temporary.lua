-- grants: debug
-- A coroutine that died in a Rust function (here `error`) keeps a [C] level 0 whose
-- values debug.getlocal lists as "(C temporary)", like PUC.
local function dump(co, level)
  local i = 1
  while true do
    local name, value = debug.getlocal(co, level, i)
    if not name then break end
    print(level, i, name, type(value) == "table" and "table" or value)
    i = i + 1
  end
end
local function die(...)
  local args = {...}
  local co = coroutine.create(function(a)
    local x = "local x"
    error(table.unpack(args))
  end)
  local ok, e = coroutine.resume(co, 1)
  print(ok, type(e) == "table" and "table" or e)
  dump(co, 0)
  dump(co, 1)
end
die("boom", 0)
die("boom")
die("boom", 2)
die({})
die(42, 1)
die()
