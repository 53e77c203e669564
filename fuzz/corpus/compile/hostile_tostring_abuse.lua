-- expect: ok
-- Attacks: __tostring returning non-strings (tables, nil, numbers, itself), erroring,
-- recursing forever, yielding; __name that is not a string, recursive __name tables;
-- print/tostring/string.format/error/concat with such objects.
local function bad(mt)
  return setmetatable({}, mt)
end
local ok, e = pcall(tostring, bad{__tostring = function() return {} end})
assert(not ok and e:find("'__tostring' must return a string"), e)
ok, e = pcall(tostring, bad{__tostring = function() end})
assert(not ok and e:find("'__tostring' must return a string"), e)
ok, e = pcall(tostring, bad{__tostring = function() return 42 end})
assert(ok and (e == "42" or e == 42) or e:find("must return a string"))
ok, e = pcall(tostring, bad{__tostring = function(s) return s end})
assert(not ok and e:find("must return a string"), e)
ok, e = pcall(tostring, bad{__tostring = function() error("ts boom") end})
assert(not ok and e:find("ts boom"), e)
ok, e = pcall(tostring, bad{__tostring = "not callable"})
assert(not ok)
ok, e = pcall(print, bad{__tostring = function() return {} end})
assert(not ok and e:find("must return a string"), e)
local rec = setmetatable({}, {})
getmetatable(rec).__tostring = function(s) return "<" .. tostring(s) .. ">" end
ok, e = pcall(tostring, rec)
assert(not ok and tostring(e):find("stack overflow"), e)
-- __name of odd types
for _, name in ipairs{{}, 42, true, print, ("n"):rep(100000)} do
  local s = tostring(setmetatable({}, {__name = name}))
  assert(type(s) == "string")
end
local selfname = {}
selfname.__name = selfname
assert(type(tostring(setmetatable({}, selfname))) == "string")
local named = setmetatable({}, {__name = setmetatable({}, {__tostring = function() error("x") end})})
assert(type(tostring(named)) == "string")
-- __name shows up in error messages: must not call anything
local obj = setmetatable({}, {__name = setmetatable({}, {__index = function() error("no") end})})
ok, e = pcall(function() return obj + 1 end)
assert(not ok and type(e) == "string")
ok, e = pcall(string.rep, setmetatable({}, {__name = "My.Type"}))
assert(not ok and e:find("string expected"), e) -- PUC names it "got My.Type"
-- yield from __tostring inside a coroutine
local co = coroutine.wrap(function()
  return tostring(setmetatable({}, {__tostring = function() return coroutine.yield("in ts") end}))
end)
assert(co() == "in ts")
assert(co("done") == "done")
-- __tostring on the error object of an uncaught-looking error
ok, e = pcall(error, setmetatable({}, {__tostring = function() return {} end}))
assert(not ok and type(e) == "table")
