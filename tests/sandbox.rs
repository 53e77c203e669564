//! The sandbox profile (`Lua::sandboxed`): no host access whatever the host grants, frozen
//! shared libraries, per-mod environments, bounded steps; and the CLI flags.

use std::rc::Rc;

use lunette::{CaptureHost, Executor, Fuel, Grants, Lua};

fn sandbox() -> (Lua, CaptureHost) {
    // Even a host that grants everything gets a sandbox with no host access (binary chunks,
    // which are not host access, follow the host's grant: see `binary_chunks_need_a_grant`).
    let host = CaptureHost {
        grants: Grants::all(),
        ..CaptureHost::default()
    };
    (Lua::sandboxed(Rc::new(host.clone())), host)
}

fn out(host: &CaptureHost) -> String {
    String::from_utf8(host.take_stdout()).unwrap()
}

#[test]
fn sandbox_has_no_host_access() {
    let (mut lua, host) = sandbox();
    lua.execute(
        br#"
        print(io, dofile, loadfile, os.getenv, os.exit, os.remove, os.execute)
        print(type(os.time), type(os.clock), type(os.date), type(os.difftime))
        print(debug.getinfo, debug.sethook, type(debug.traceback))
        print(load("\27Lua", "bin", "b"))
        print(pcall(require, "os_module_that_is_not_there") == false)
        print(collectgarbage(), collectgarbage("step"), type(collectgarbage("count")))
        "#,
        "=sb",
    )
    .unwrap();
    assert_eq!(
        out(&host),
        "nil\tnil\tnil\tnil\tnil\tnil\tnil\n\
         function\tfunction\tfunction\tfunction\n\
         nil\tnil\tfunction\n\
         nil\tbin: truncated precompiled chunk\n\
         true\n\
         0\tfalse\tnumber\n"
    );
}

#[test]
fn shared_libraries_are_frozen() {
    let (mut lua, host) = sandbox();
    lua.execute(
        br#"
        print(pcall(function() string.rep = nil end))
        print(pcall(function() math.pi = 3 end))
        print(pcall(rawset, table, "insert", print))
        print(pcall(table.insert, coroutine, print))
        print(pcall(setmetatable, string, {}))
        print(pcall(function() getmetatable("").__index = {} end))
        print(("x"):rep(3), math.pi > 3.14)
        "#,
        "=frozen",
    )
    .unwrap();
    assert_eq!(
        out(&host),
        "false\tfrozen:2: attempt to modify a read-only table\n\
         false\tfrozen:3: attempt to modify a read-only table\n\
         false\tattempt to modify a read-only table\n\
         false\tattempt to modify a read-only table\n\
         false\tattempt to modify a read-only table\n\
         false\tfrozen:7: attempt to modify a read-only table\n\
         xxx\ttrue\n"
    );
}

#[test]
fn each_mod_gets_its_own_globals() {
    let (mut lua, host) = sandbox();
    let env_a = lua.new_environment();
    let env_b = lua.new_environment();
    let mod_a = lua
        .load_with_env(
            b"shared = 'from a' counter = (counter or 0) + 1 print('a', counter)",
            "=a",
            Some(&env_a),
        )
        .unwrap();
    let mod_b = lua
        .load_with_env(
            b"print('b', shared, counter, type(print), _G == _ENV)",
            "=b",
            Some(&env_b),
        )
        .unwrap();
    for f in [&mod_a, &mod_a, &mod_b] {
        let exec = lua.enter(|ctx| {
            let f = ctx.fetch(f).unwrap();
            ctx.stash_executor(Executor::start(ctx, f, &[]))
        });
        lua.finish(&exec).unwrap();
    }
    assert_eq!(out(&host), "a\t1\na\t2\nb\tnil\tnil\tfunction\ttrue\n");
}

#[test]
fn a_hostile_loop_only_costs_its_fuel() {
    let (mut lua, _) = sandbox();
    let f = lua
        .load(
            b"local t = {} while true do t[#t % 100 + 1] = {} end",
            "=loop",
        )
        .unwrap();
    let exec = lua.enter(|ctx| {
        let f = ctx.fetch(&f).unwrap();
        ctx.stash_executor(Executor::start(ctx, f, &[]))
    });
    for _ in 0..200 {
        let mut fuel = Fuel::new(5_000);
        assert!(!lua.step(&exec, &mut fuel).is_done());
        assert!(fuel.remaining() > -100, "overran: {}", fuel.remaining());
    }
}

#[test]
fn cli_fuel_and_sandbox_flags() {
    use std::process::Command;
    let bin = env!("CARGO_BIN_EXE_lunette");
    let o = Command::new(bin)
        .args(["--fuel", "100000", "-e", "while true do end"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "lunette: (command line):1: fuel exhausted (100000 units)\n\
         stack traceback:\n\t(command line):1: in main chunk\n\t[C]: in ?\n"
    );
    let o = Command::new(bin)
        .args([
            "--sandbox",
            "-e",
            "print(io, os.getenv, pcall(function() string.x = 1 end))",
        ])
        .output()
        .unwrap();
    assert!(o.status.success());
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "nil\tnil\tfalse\t(command line):1: attempt to modify a read-only table\n"
    );
}

const LIMIT: usize = 16 << 20;

/// Runs `attack` (which tries to allocate gigabytes) inside `pcall` under a 16 MiB limit:
/// it must fail with `not enough memory` (or the string size limit), memory must stay near the
/// limit, and the VM must stay usable.
fn memory_attack(attack: &str) {
    let (mut lua, host) = sandbox();
    lua.set_memory_limit(Some(LIMIT));
    lua.reset_memory_peak();
    let src = format!(
        "local ok, e = pcall(function() {attack} end) print(ok, e) \
         collectgarbage('count')"
    );
    lua.execute(src.as_bytes(), "=attack")
        .unwrap_or_else(|e| panic!("{attack}: {e}"));
    let printed = out(&host);
    assert!(
        printed.starts_with("false\tnot enough memory")
            || printed.contains("too large")
            || printed.contains("stack overflow"),
        "{attack}: {printed}"
    );
    // Big buffers ask before allocating (a full collection first, then the error), so the
    // VM never goes past its limit by one big request; what remains is growth charged
    // without asking (a table's hash part doubling: ~1.2x at worst here).
    assert!(
        lua.memory_peak() < LIMIT + LIMIT / 4,
        "{attack}: peak {} bytes",
        lua.memory_peak()
    );
    // Usable afterwards: the garbage is collected and new work runs.
    lua.gc_collect();
    assert!(
        lua.memory_used() < LIMIT,
        "{attack}: {} in use",
        lua.memory_used()
    );
    assert_eq!(
        lua.execute(
            b"local t = {} for i = 1, 1000 do t[i] = {i} end return #t",
            "=after"
        )
        .unwrap(),
        vec!["1000".to_string()]
    );
}

/// Deep recursion through `__index` with big frames (200 registers each): the stack grows
/// by at most `MAX_STACK_GROWTH` slots at once once it is big (it doubled from 15 to 30 MiB
/// under a 16 MiB limit: found by the undump fuzzer).
#[test]
fn memory_limit_stops_deep_recursion_with_big_frames() {
    let locals: Vec<String> = (0..190).map(|i| format!("a{i}")).collect();
    memory_attack(&format!(
        "local t = setmetatable({{}}, {{__index = function(t, k) local {} = 1 return t[k + 1] end}}) \
         return t[1]",
        locals.join(", ")
    ));
}

#[test]
fn memory_limit_stops_string_rep() {
    memory_attack("return string.rep('x', 1 << 30)");
}

#[test]
fn memory_limit_stops_concat_doubling() {
    memory_attack("local s = 'x' for i = 1, 40 do s = s .. s end");
}

#[test]
fn memory_limit_stops_concat_in_a_loop() {
    memory_attack("local t = {} for i = 1, 1e6 do t[i] = ('x'):rep(1000) .. i end");
}

#[test]
fn memory_limit_stops_table_growth() {
    memory_attack("local t = {} for i = 1, 1e9 do t[i] = i end");
}

#[test]
fn memory_limit_stops_hash_growth() {
    memory_attack("local t = {} for i = 1, 1e9 do t['k' .. i] = i end");
}

#[test]
fn memory_limit_stops_closures() {
    memory_attack("local t = {} for i = 1, 1e9 do t[i] = function() return i end end");
}

#[test]
fn memory_limit_stops_coroutines() {
    memory_attack("local t = {} for i = 1, 1e9 do t[i] = coroutine.create(print) end");
}

#[test]
fn memory_limit_stops_deep_recursion() {
    memory_attack("local function f(n) local a, b, c = {}, {}, {} return 1 + f(n + 1) end f(1)");
}

#[test]
fn memory_limit_stops_table_concat_and_gsub() {
    memory_attack(
        "local t = {} for i = 1, 5000 do t[i] = ('y'):rep(1 << 20) end return table.concat(t)",
    );
    memory_attack("return (('x'):rep(1000)):gsub('x', ('z'):rep(1 << 20))");
    memory_attack("return (('x'):rep(1 << 20)):gsub('.+', ('%0'):rep(2000))");
}

#[test]
fn garbage_alone_never_hits_the_limit() {
    // Lots of short-lived allocation, little live data: collections keep it under the limit.
    let (mut lua, _) = sandbox();
    lua.set_memory_limit(Some(LIMIT));
    let r = lua
        .execute(
            b"local n = 0 for i = 1, 2000 do local s = ('x'):rep(100000) .. i n = n + #s end return n",
            "=garbage",
        )
        .unwrap();
    assert_eq!(r, vec![(2000 * 100000 + 6893).to_string()]);
    assert!(lua.memory_peak() < 2 * LIMIT + (4 << 20));
}

#[test]
fn memory_is_accounted_and_given_back() {
    let (mut lua, _) = sandbox();
    lua.gc_collect();
    let base = lua.memory_used();
    lua.execute(
        b"big = {} for i = 1, 100000 do big[i] = 'item' .. i end",
        "=fill",
    )
    .unwrap();
    let filled = lua.memory_used();
    // 100k array slots (16 B) and 100k strings (~80 B each) at least.
    assert!(filled - base > 100_000 * 80, "{base} -> {filled}");
    lua.execute(b"big = nil", "=free").unwrap();
    lua.gc_collect();
    assert!(
        lua.memory_used() < base + 64 * 1024,
        "{base} -> {}",
        lua.memory_used()
    );
    // The script's view (collectgarbage "count", KiB) agrees after a full collection.
    let kb = lua
        .execute(b"return collectgarbage('count')", "=count")
        .unwrap();
    let kb: f64 = kb[0].parse().unwrap();
    assert!((kb * 1024.0 - lua.memory_used() as f64).abs() < 64.0 * 1024.0);
}

#[test]
fn each_mod_gets_its_own_package_and_require() {
    let (mut lua, host) = sandbox();
    // A module the host offers to every mod (registered before the environments are made).
    lua.execute(
        b"package.preload.counter = function() return {n = 0} end \
          package.sources.greet = 'return function(who) return \"hi \" .. who end'",
        "=host",
    )
    .unwrap();
    let env_a = lua.new_environment();
    let env_b = lua.new_environment();
    let run = |lua: &mut Lua, src: &str, env: &lunette::StashedValue| {
        let f = lua
            .load_with_env(src.as_bytes(), "=mod", Some(env))
            .unwrap();
        let exec = lua.enter(|ctx| {
            let f = ctx.fetch(&f).unwrap();
            ctx.stash_executor(Executor::start(ctx, f, &[]))
        });
        lua.finish(&exec).unwrap_or_else(|e| panic!("{src}: {e}"));
    };
    run(
        &mut lua,
        "local c = require('counter') c.n = c.n + 10 \
         package.preload.secret = function() return 'a only' end \
         package.loaded.string = 'poisoned' \
         print(require('counter').n, require('secret'), require('greet')('a'))",
        &env_a,
    );
    run(
        &mut lua,
        "print(require('counter').n, pcall(require, 'secret'), type(require('string')), \
         package.loaded._G == _G, require('greet')('b'))",
        &env_b,
    );
    let printed = out(&host);
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines[0], "10\ta only\thi a");
    // (pcall in the middle of the list gives only its first result: false)
    assert_eq!(lines[1], "0\tfalse\ttable\ttrue\thi b");
    // The package table itself stays read-only in the sandbox.
    let err = lua
        .load_with_env(b"package.path = 'x'", "=mod", Some(&env_a))
        .map(|f| {
            let exec = lua.enter(|ctx| {
                let f = ctx.fetch(&f).unwrap();
                ctx.stash_executor(Executor::start(ctx, f, &[]))
            });
            lua.finish(&exec)
        })
        .unwrap();
    assert!(err.unwrap_err().message.contains("read-only"));
}

/// A builtin's buffer that does not fit next to garbage asks for a collection instead of
/// failing: 11 MiB of garbage, then a 4 MiB `string.pack` result under a 16 MiB limit, all
/// in one step and with automatic collections stopped (so no collection ran in between).
#[test]
fn garbage_does_not_make_a_buffer_fail() {
    let (mut lua, _) = sandbox();
    lua.set_memory_limit(Some(LIMIT));
    let exec = lua
        .chunk(
            "collectgarbage('stop')
             local g = ('x'):rep(11 << 20) g = nil
             local s = ('a'):rep(2 << 20)
             local f = string.pack('zz', s, s)
             return #f, f:sub(1, 3)",
        )
        .start(())
        .unwrap();
    while !lua.step(&exec, &mut Fuel::new(1 << 40)).is_done() {}
    let (n, head): (i64, String) = lua.results(&exec).unwrap();
    assert_eq!((n, head.as_str()), ((4 << 20) + 2, "aaa"));
}

#[test]
fn binary_chunks_need_a_grant() {
    // A host that grants nothing: the sandbox neither dumps nor loads binary chunks.
    let host = CaptureHost::new();
    let mut lua = Lua::sandboxed(Rc::new(host.clone()));
    lua.execute(
        br#"
        print(pcall(string.dump, function() end))
        print(load("\27Lua", "bin", "b"))
        print(load("\27Lua", "bin"))
        "#,
        "=nogrant",
    )
    .unwrap();
    assert_eq!(
        out(&host),
        "false\tunable to dump given function\n\
         nil\tattempt to load a binary chunk (not granted by the host)\n\
         nil\tattempt to load a binary chunk (not granted by the host)\n"
    );
    // A host that grants them: round trips work in the sandbox, and a mod's loaded chunk
    // gets the mod's environment.
    let host = CaptureHost {
        grants: Grants {
            binary_chunks: true,
            ..Grants::default()
        },
        ..CaptureHost::default()
    };
    let mut lua = Lua::sandboxed(Rc::new(host.clone()));
    let env = lua.new_environment();
    lua.chunk(
        br#"
        who = "mod"
        local f = load(string.dump(function(a) return who .. a end), "=f", "b")
        print(f("!"), io)
        "#,
    )
    .name("=granted")
    .env(&env)
    .exec()
    .unwrap();
    assert_eq!(out(&host), "mod!\tnil\n");
}
