-- expect: ok
-- Attacks: deeply nested source generated inside Lua (100000 levels of parentheses,
-- tables, functions, blocks, unary operators, concatenation): load must return nil plus a
-- clean error (PUC: "C stack overflow" / "too many ... levels"), never overflow the Rust
-- stack. Also nested load-inside-load 100 levels deep.
local n = 100000
local cases = {
  "return " .. ("("):rep(n) .. "1" .. (")"):rep(n),
  "return " .. ("{"):rep(n) .. ("}"):rep(n),
  "return " .. ("function() return "):rep(n) .. "1" .. (" end"):rep(n),
  ("do "):rep(n) .. ("end "):rep(n),
  ("repeat "):rep(n) .. ("until true "):rep(n),
  ("for i=1,2 do "):rep(n) .. ("end "):rep(n),
  "return " .. ("- "):rep(n) .. "1",
  "return " .. ("~"):rep(n) .. "1",
  "return " .. ("#"):rep(n) .. "'x'",
  "return 'a'" .. (".. 'a'"):rep(n),
  "return 2" .. ("^2"):rep(n),
  "local a = " .. ("{a = "):rep(n) .. "1" .. ("}"):rep(n),
  "x = " .. ("f("):rep(n) .. (")"):rep(n),
  "return " .. ("a["):rep(n) .. "1" .. ("]"):rep(n),
  ("if x then "):rep(n) .. ("end "):rep(n),
  ("if x then else "):rep(n) .. ("end "):rep(n),
  ("while x do "):rep(n) .. ("end "):rep(n),
  ("local function f() "):rep(n) .. ("end "):rep(n),
  "return " .. ("(function(...) return "):rep(n) .. "..." .. (" end)()"):rep(n),
}
for i, src in ipairs(cases) do
  local f, e = load(src)
  assert(f == nil, "case " .. i .. " should not compile")
  assert(type(e) == "string" and (e:find("overflow") or e:find("levels") or e:find("too many")), "case " .. i .. ": " .. tostring(e))
end
-- nested load inside load
local src = "return 1"
for i = 1, 100 do
  local eq = ("="):rep(i)
  src = "return load([" .. eq .. "[" .. src .. "]" .. eq .. "])()"
end
assert(load(src)() == 1)
