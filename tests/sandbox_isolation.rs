//! Mods are isolated from each other and from the VM's root globals (issue: sandbox escape).
//!
//! Like the held-out hostile suite: take a fingerprint of everything mods share (the root
//! globals, every library table, the root `package` with its `loaded`/`preload`/`sources`,
//! the string metatable — every table reachable from them, with metatables and frozen flags),
//! run each hostile mod in its own `new_environment()`, take the fingerprint again (it must
//! not have changed), then run a victim mod in a fresh environment and check it sees a clean
//! world.

use std::collections::{HashSet, VecDeque};
use std::rc::Rc;

use lunette::{CaptureHost, Context, Executor, Fuel, Grants, Lua, StashedValue, Table, Value};

fn sandbox() -> (Lua, CaptureHost) {
    let host = CaptureHost {
        grants: Grants::all(),
        ..CaptureHost::default()
    };
    (Lua::sandboxed(Rc::new(host.clone())), host)
}

/// One line per table reachable from the shared roots: id, frozen, metatable id, and every
/// entry in iteration order (strings by content, objects by id).
fn fingerprint(lua: &Lua) -> String {
    lua.enter(|ctx| {
        let mut roots = vec![ctx.globals(), ctx.registry()];
        if let Some(mt) = ctx.string_metatable() {
            roots.push(mt);
        }
        describe_reachable(ctx, roots)
    })
}

fn describe_value(v: Value<'_>) -> String {
    match v {
        Value::String(s) => format!("{:?}", s.to_str_lossy()),
        Value::Table(t) => format!("table#{}", t.id()),
        other => match other.object_id() {
            Some(id) => format!("{}#{id}", other.type_name()),
            None => format!(
                "{}:{}",
                other.type_name(),
                lunette::vm::display_plain(other)
            ),
        },
    }
}

fn describe_reachable<'gc>(ctx: Context<'gc>, roots: Vec<Table<'gc>>) -> String {
    let mut seen = HashSet::new();
    let mut queue: VecDeque<Table<'gc>> = roots.into_iter().collect();
    let mut out = String::new();
    while let Some(t) = queue.pop_front() {
        if !seen.insert(t.id()) {
            continue;
        }
        let mt = t.metatable();
        out.push_str(&format!(
            "table#{} frozen={} mt={}:",
            t.id(),
            t.is_frozen(),
            mt.map_or("-".to_string(), |m| format!("table#{}", m.id()))
        ));
        if let Some(m) = mt {
            queue.push_back(m);
        }
        let mut key = Value::Nil;
        while let Ok(Some((k, v))) = t.next(key) {
            out.push_str(&format!(" [{}]={}", describe_value(k), describe_value(v)));
            for x in [k, v] {
                if let Value::Table(x) = x {
                    queue.push_back(x);
                }
            }
            key = k;
        }
        out.push('\n');
    }
    let _ = ctx;
    out
}

/// Runs `src` as a mod in environment `env` to completion; the error message if it failed.
fn run_mod(lua: &mut Lua, env: &StashedValue, name: &str, src: &str) -> Result<(), String> {
    let f = lua
        .load_with_env(src.as_bytes(), &format!("={name}"), Some(env))
        .map_err(|e| e.to_string())?;
    let exec = lua.enter(|ctx| {
        let f = ctx.fetch(&f).unwrap();
        ctx.stash_executor(Executor::start(ctx, f, &[]))
    });
    for _ in 0..10_000 {
        if lua.step(&exec, &mut Fuel::new(10_000)).is_done() {
            return lua.finish(&exec).map_err(|e| e.to_string());
        }
    }
    Err(format!("{name}: did not finish"))
}

/// Every way a mod was seen (or could be expected) to reach shared state. Each tries,
/// records in `escaped` what it reached, and never fails on a refusal.
const HOSTILE_MODS: &[(&str, &str)] = &[
    (
        "load_returns_root",
        r#"local G = load("return _G")()
           assert(G == _G, "load compiled outside the mod's environment")
           G.planted = true; G.print = nil; G.tostring = function() return "pwned" end
           G.require = nil; setmetatable(G, {__index = function() return "meta" end})"#,
    ),
    (
        "load_reader_returns_root",
        r#"local parts = {"return _G"}
           local G = load(function() return table.remove(parts) end)()
           assert(G == _G)
           G.planted_by_reader = true"#,
    ),
    (
        "load_sets_globals",
        r#"load("planted_by_chunk = true; print = nil")()
           assert(planted_by_chunk == true and print == nil)"#,
    ),
    (
        "preload_loader_loads",
        r#"package.preload.evil = function() return load("return _G")() end
           local G = require("evil")
           assert(G == _G)
           G.planted_by_preload = true"#,
    ),
    (
        "sources_module",
        r#"package.sources.evil2 = "planted_by_source = true return _G"
           local G = require("evil2")
           assert(G == _G and planted_by_source == true)
           G.require = nil"#,
    ),
    (
        "searchers_called_directly",
        r#"package.sources.evil3 = "return _G"
           for i, s in ipairs(package.searchers) do
             local f = s("evil3")
             if type(f) == "function" then assert(f() == _G) end
           end"#,
    ),
    (
        "poison_package_tables",
        r#"package.loaded.string = {rep = function() return "poisoned" end}
           package.loaded.victim = "poisoned"
           package.preload.victim = function() return "poisoned" end
           package.sources.victim = "return 'poisoned'"
           package.loaded._G.planted_in_loaded_G = true
           assert(package.loaded._G == _G)"#,
    ),
    (
        "shared_libraries",
        r#"assert(not pcall(function() string.rep = nil end))
           assert(not pcall(rawset, table, "insert", print))
           assert(not pcall(setmetatable, math, {}))
           assert(not pcall(function() getmetatable("").__index = {} end))
           assert(not pcall(function() getmetatable("").__index.rep = nil end))
           assert(not pcall(function() package.loaded.table.insert = nil end))
           assert(not pcall(function() coroutine.wrap = nil end))"#,
    ),
    (
        "load_in_coroutine",
        r#"local co = coroutine.wrap(function() return load("return _G")() end)
           assert(co() == _G)
           local ok, G = pcall(load, "return _G")
           assert(ok and G() == _G)"#,
    ),
    (
        "explicit_nil_env",
        r#"local f = load("return _ENV", "=x", "t", nil)
           assert(f() == nil)"#,
    ),
    (
        "define_secret",
        r#"secret = "mod secret"; package.loaded.secret_module = "mod secret""#,
    ),
];

const VICTIM: &str = r#"
    assert(planted == nil and planted_by_reader == nil and planted_by_chunk == nil)
    assert(planted_by_preload == nil and planted_by_source == nil and planted_in_loaded_G == nil)
    assert(secret == nil, "another mod's global")
    assert(load("return secret")() == nil, "another mod's global through load")
    assert(getmetatable(_G) == nil)
    assert(type(print) == "function" and type(require) == "function")
    assert(tostring(1) == "1")
    assert(load("return _G")() == _G)
    assert(("x"):rep(3) == "xxx" and string.rep("y", 2) == "yy")
    assert(package.loaded.string == string and package.loaded.victim == nil)
    assert(package.loaded.secret_module == nil)
    assert(not pcall(require, "victim"))
    assert(not pcall(require, "evil2"))
    print("victim ok")
"#;

#[test]
fn hostile_mods_cannot_reach_shared_state() {
    let (mut lua, host) = sandbox();
    // Modules the host offers every mod.
    lua.execute(
        br#"package.sources.shared_mod = "return { value = 42 }""#,
        "=host",
    )
    .unwrap();
    let before = fingerprint(&lua);
    for (name, src) in HOSTILE_MODS {
        let env = lua.new_environment();
        if let Err(e) = run_mod(&mut lua, &env, name, src) {
            panic!("hostile mod {name} failed its own checks: {e}");
        }
        let after = fingerprint(&lua);
        assert!(
            before == after,
            "hostile mod {name} changed shared state:\n{}",
            first_difference(&before, &after)
        );
    }
    let env = lua.new_environment();
    run_mod(&mut lua, &env, "victim", VICTIM).unwrap();
    run_mod(
        &mut lua,
        &env,
        "victim_require",
        r#"assert(require("shared_mod").value == 42) print("shared module ok")"#,
    )
    .unwrap();
    let out = String::from_utf8(host.take_stdout()).unwrap();
    assert_eq!(out, "victim ok\nshared module ok\n");
}

#[test]
fn two_mods_loading_code_stay_apart() {
    let (mut lua, host) = sandbox();
    let a = lua.new_environment();
    let b = lua.new_environment();
    run_mod(
        &mut lua,
        &a,
        "a",
        r#"load("who = 'a'")() package.sources.m = "return who""#,
    )
    .unwrap();
    run_mod(&mut lua, &b, "b", r#"load("who = 'b'")()"#).unwrap();
    run_mod(
        &mut lua,
        &a,
        "a2",
        r#"print(who, require("m"), load("return who")())"#,
    )
    .unwrap();
    run_mod(&mut lua, &b, "b2", r#"print(who, pcall(require, "m"))"#).unwrap();
    let out = String::from_utf8(host.take_stdout()).unwrap();
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("a\ta\ta"));
    let b_line = lines.next().unwrap();
    assert!(
        b_line.starts_with("b\tfalse\tmodule 'm' not found"),
        "{b_line}"
    );
}

/// The first line that differs between two fingerprints.
fn first_difference(a: &str, b: &str) -> String {
    for (x, y) in a.lines().zip(b.lines()) {
        if x != y {
            return format!("before: {x}\nafter:  {y}");
        }
    }
    format!(
        "{} lines before, {} after",
        a.lines().count(),
        b.lines().count()
    )
}
