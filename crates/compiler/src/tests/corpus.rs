//! A corpus of valid programs, each compiled and structurally checked.

use super::checker::compile_checked;

pub(crate) const PROGRAMS: &[&str] = &[
    "",
    ";;;",
    "return",
    "return;",
    "return 1, 2, 3",
    "return ...",
    "return f(...)",
    "return (f())",
    "local a <const> = 10; local b = a * 2 + 1; return b",
    "local s <const> = 'x'; t = {[s] = s}; return s .. s",
    "local a, b <const> = 1, 2; return a + b",
    "local x <close> = nil; return x",
    "local x <close> = f(); do local y <close> = g() end; return 1",
    "local x <close> = f(); return g()",
    "local a = {1, 2, 3, x = 1, ['y'] = 2, [3] = 4; 5, f()}",
    "local a = {f()}; local b = {...}; local c = {f(), nil}",
    "local t = {} t.x = 1 t[1] = 2 t[300] = 3 t[-1] = 4 t[1.5] = 5 t.x.y.z = t",
    "a, b, c = 1",
    "a, b = f()",
    "a, b, c = f(), g()",
    "local a, b, c = ...",
    "local a, b = 1, 2, 3, 4",
    "local a; a, a = 1, 2",
    "local t, i = {}, 1; i, t[i] = i + 1, 20",
    "local a = {}; a.x, a = 1, 2",
    "local a = {}; local k = 1; a[k], k = 1, 2",
    "t = {}; t.x, t = 1, 2",
    "local a; local function f() a.x, a = 1, 2 end",
    "x = x + 1; y = y - 1; z = z * 2; w = w / 2; v = v % 3; u = u ^ 2; q = q // 2",
    "x = 1 + x; y = 1 - y; z = 2 * z",
    "x = x & 1 | 2 ~ 3; y = x << 2; z = 2 << x; w = x >> 3; v = 3 >> x; u = ~x",
    "x = x + 100000; y = y - 1.5; z = z + 2^53",
    "x = -x; y = not y; z = #z; w = - -w; v = not not v",
    "x = 1 + 2 * 3 - 4 / 5 // 6 % 7 ^ 8",
    "x = 1 / 0; y = 0 / 0; z = -0.0; w = 3 % 0; v = 3 // 0; u = 1 & 1.5",
    "x = 'a' .. 'b' .. c .. d .. 'e'",
    "x = a .. (b .. c) .. d",
    "x = a == b; y = a ~= 1; z = a < 2; w = 3 <= a; v = a > b; u = a >= 1.0",
    "x = a == 'x'; y = nil == a; z = a ~= true; w = 1.5 == a; v = a == 100000",
    "x = a and b; y = a or b; z = a and b or c; w = (a or b) and (c or d)",
    "x = not (a and b); y = not (a == b); z = not a == b",
    "if a then b() end",
    "if a then b() else c() end",
    "if a then b() elseif c then d() elseif e then f() else g() end",
    "if a and b or c then x() end",
    "if not a then x() end",
    "if a == 1 and b ~= 2 or c < 3 and not d then x() end",
    "if nil then x() end if false then y() end if true then z() end if 1 then w() end",
    "while a do b() end",
    "while true do if x then break end end",
    "while a < 10 do a = a + 1 end",
    "repeat a = a + 1 until a > 10",
    "repeat local x = f() until x",
    "repeat local x = f(); local g = function() return x end until x",
    "for i = 1, 10 do end",
    "for i = 10, 1, -1 do print(i) end",
    "for i = 1.0, 2.5, 0.5 do print(i) end",
    "for k, v in pairs(t) do print(k, v) end",
    "for a, b, c, d, e in f() do end",
    "for k in next, t do break end",
    "for i = 1, 3 do local x = i; fs[i] = function() return x end end",
    "for i = 1, 3 do fs[i] = function() return i end end",
    "while true do local x; f(function() return x end); if x then break end end",
    "do local a = 1; do local b = 2; print(a, b) end end",
    "do local a; f = function() return a end end",
    "goto l1; ::l1::",
    "do goto l1 end ::l1::",
    "::top:: x = x + 1 if x < 10 then goto top end",
    "for i = 1, 3 do for j = 1, 3 do if j == 2 then goto continue end print(i, j) ::continue:: end end",
    "while x do local y = 1 if y then goto continue end local z = 2 ::continue:: end",
    "do local x; goto e; local y; ::e:: end",
    "do local k = 0; local x; ::l1:: local y = 1; f(function() return y end); k = k + 1; if k < 3 then goto l1 end end",
    "do local x = 1; local f = function() return x end; goto out end ::out::",
    "local function f(n) if n == 0 then return 1 end return n * f(n - 1) end",
    "function f(a, b, ...) return a, b, ... end",
    "function t.a.b.c:m(x) return self, x end",
    "function t.a.b.c.f(x) return x end",
    "local t = {}; function t:m() return self end",
    "local f = function(...) local a, b = ... return select('#', ...) end",
    "f{1, 2}; f'x'; f\"y\"; f[[z]]; obj:m{1}; obj:m'x'; obj:m(1, 2)",
    "a.b.c.d.e.f.g = 1",
    "local a = b.c.d[e][1][f.g]",
    "print(a:b():c():d())",
    "local _ENV = {print = print}; print(x); y = 1",
    "local function f() local _ENV <const> = {}; return x end",
    "local _ENV = nil; x = 1",
    "local a, b, c; local function f() a = 1; b = 2; return c end",
    "local a; function g() local function h() return a end return h end",
    "local x = 1; local function f() local function g() local function h() x = x + 1 return x end return h end return g end",
    "x = 0x7fffffffffffffff + 1; y = math.mininteger // -1; z = 9223372036854775807",
    "x = 1e308 * 10; y = -1e308 * 10; z = 2^1024",
    "x = 'a\\z\n   b'; y = [==[\nlong]==]; z = '\\u{7FFFFFFF}'",
    "local a = {} a[#a + 1] = 1",
    "local x = #'abc' + #{1}",
    "local a = f() + g() * h()",
    "local a = (f())",
    "local a = ((f))()",
    "return function(...) return function(...) return ... end end",
    "local a = {[1] = 1, [2] = 2, [1.5] = 3, [true] = 4, [false] = 5}",
    "local t = {x = 1, y = 2, 'a', 'b', z = {w = {}}}",
    "local a = 1 local b = a local c = b",
    "local a <const> = 1 < 2",
    "local a <const> = nil; local b <const> = true; local c <const> = 1.5; return a, b, c",
    "local x <const> = 5; local function f() return x + 1 end",
    "local k <const> = 'key'; local t = {}; t[k] = 1; return t.key, t[k]",
    "x = a and b and c and d and e",
    "x = a or b or c or d or e",
    "x = f(a and b, c or d)",
    "local a = x == nil and 1 or 2",
    "local a = not nil; local b = not 1; local c = not 'x'",
    "if x then else end",
    "if x then return end",
    "if x then return 1 else return 2 end",
    "while x do if y then break else break end end",
    "for i = 1, 2 do if i then break end local z = function() return i end end",
    "local t <close> = x; for i = 1, 2 do local u <close> = y; break end",
    "for k, v in pairs(t) do if v then return v end end",
    "for k, v in pairs(t) do return f(v) end",
    "local a, b, c, d, e, f, g, h, i, j = 1, 2, 3, 4, 5, 6, 7, 8, 9, 10; return a + b * c - d / e // f % g ^ h .. i .. j",
    "return x == 1 or x == 2.0 or x == 'a' or x == nil or x == false or x == y",
    "return x < 1 or 1 < x or x <= 1.0 or 2 >= x or x > -5 or -5 > x",
    "return x < 100000 or 100000 < x or x < 1.5",
    "local s = 0 for i = 1, 100 do s = s + i end return s",
    "local f = load('return 1')",
    "\nprint(1) -- a shebang line is blanked by skip_shebang before compiling",
    "local a = {f(), g(), ...}",
    "t[f()] = g()",
    "t[1], t[2] = f()",
    "a.b, c.d, e[f] = 1, 2, 3",
    "local a = 1; a = a .. a .. a",
    "local x = 2^-1 + 0x10p-2 + 0xA.8",
    "local x = 1 // 0.0; local y = -(0.0); local z = 1 - 1.0",
    "return 1 & 2 | 3 ~ 4 << 5 >> 6",
    "return ~0, ~1.0, - - 3",
    "local function f(...) local t = {...} return #t end",
    "print(('x'):rep(3))",
    "local a = {} ; a.b = function(self) return self end ; a:b()",
    "x = y == z == w",
    "local v = a.b.c.d.e",
    "do return end",
    "local x <const> = 10; local y <const> = x * 2; local z = y // 3; return z",
    "local x <const> = 2; goto l; ::l:: return x",
];

#[test]
fn corpus_compiles_and_checks() {
    for src in PROGRAMS {
        compile_checked(src);
    }
}

/// Larger programs mixing many features.
const BIG: &str = r#"
local M = {}
local insert, remove = table.insert, table.remove

function M.new(cls, ...)
  local o = setmetatable({}, cls)
  if o.init then o:init(...) end
  return o
end

local Queue = {}
Queue.__index = Queue
function Queue:init(cap) self.items = {}; self.cap = cap or 16 end
function Queue:push(x)
  if #self.items >= self.cap then error("full") end
  insert(self.items, x)
end
function Queue:pop() return remove(self.items, 1) end

local function fib(n) if n < 2 then return n end return fib(n - 1) + fib(n - 2) end

local function counter()
  local c = 0
  return function() c = c + 1; return c end
end

local results = {}
for i = 1, 10 do
  local q = M.new(Queue, 4)
  for j = 1, 3 do q:push(i * j) end
  results[#results + 1] = q:pop() + fib(i % 7)
end

local co = coroutine.wrap(function(a, b)
  local s = 0
  while true do
    s = s + coroutine.yield(s)
    if s > 100 then break end
  end
  return s
end)

do
  local x <close> = setmetatable({}, {__close = function() print("closed") end})
  local ok, err = pcall(function() error({code = 1}) end)
  if not ok and type(err) == "table" and err.code == 1 then
    print("caught")
  elseif ok then
    print("?")
  else
    print(err)
  end
end

for k, v in pairs({a = 1, b = 2}) do
  for i = 1, 2 do
    if i == 2 then goto next end
    print(k, v, i)
    ::next::
  end
end

local s = ""
for w in string.gmatch("one two three", "%a+") do s = s .. w .. "," end
local n = 0
repeat
  local m = n * 2
  n = n + 1
until m > 10 or n >= 100
return M, results, s, counter()()
"#;

#[test]
fn big_program() {
    compile_checked(BIG);
}

#[test]
fn workspace_lua_tests_compile() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/lua");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.extension().and_then(|x| x.to_str()) != Some("lua") {
            continue;
        }
        let src = std::fs::read(&path).unwrap();
        match crate::compile(&src, &format!("@{}", path.display())) {
            Ok(p) => super::checker::check_proto(&p, true),
            Err(e) => {
                // only acceptable if PUC also rejects the file
                if let Some(msg) = super::errors::puc_load_error(&src) {
                    assert!(!msg.is_empty(), "{}: {e}", path.display());
                } else {
                    panic!("{}: {e}", path.display());
                }
            }
        }
    }
}

#[test]
fn many_items_and_constants() {
    // > 256 constants, thousands of list items, SetList flushes
    let mut s = String::from("local t = {");
    for i in 0..5000 {
        s.push_str(&format!("{i}.5, 'k{i}', "));
    }
    s.push_str("f()}\n");
    for i in 0..300 {
        s.push_str(&format!("t.f{i} = t.g{i} + {i}.25\n"));
    }
    let p = compile_checked(&s);
    assert!(p.constants.len() > 10000);
    // 70000 distinct string constants: indexes beyond u16 must use register forms
    let mut s = String::from("local t = {}\n");
    for i in 0..70000 {
        s.push_str(&format!("t.x{i} = 'v{i}'\n"));
    }
    s.push_str("x = t.x1 == 'zz'; y = t.x2 + 1.75; z = zz\n");
    let p = compile_checked(&s);
    assert!(p.constants.len() > 70000);
}

#[test]
fn long_chains() {
    // left-associative chains are iterative: no level limit
    let s = format!("x = {}1", "1 + ".repeat(100_000));
    compile_checked(&s);
    let s = format!("x = a{}", ".b".repeat(100_000));
    compile_checked(&s);
    let s = format!("x = a{}", "[1]".repeat(50_000));
    compile_checked(&s);
    let s = format!("x = f{}", "()".repeat(50_000));
    compile_checked(&s);
    let s = format!("x = a{}", ":m()".repeat(50_000));
    compile_checked(&s);
    let s = format!("x = a {}", "and b ".repeat(50_000));
    compile_checked(&s);
    let s = format!("x = a {}", "or b == c ".repeat(50_000));
    compile_checked(&s);
    let s = "x = 1\n".repeat(100_000);
    compile_checked(&s);
    let s = format!("if a then {} end", "elseif b then ".repeat(20_000));
    compile_checked(&s);
    // concatenation of 150 operands (right associative; within limits)
    let s = format!("x = a{}", " .. a".repeat(150));
    compile_checked(&s);
}
