-- grants: debug
-- debug.getlocal on a coroutine that died by an error: level 0 is the function that
-- raised (as for debug.getinfo), then its callers.
local co = coroutine.create(function(a)
  local x = 10
  local function inner(b)
    local y = 20
    error("boom")
  end
  inner(5)
end)
print(coroutine.resume(co, 1))
for level = 1, 2 do
  local info = debug.getinfo(co, level, "Sl")
  print(level, info.short_src, info.currentline)
  for i = 1, 3 do
    local name, v = debug.getlocal(co, level, i)
    print("", i, name, type(v) == "function" and "(a function)" or v)
  end
end
print(pcall(debug.getlocal, co, 3, 1))
print(pcall(debug.getlocal, co, -1, 1))
