//! The sandbox profile (`Lua::sandboxed`): no host access whatever the host grants, frozen
//! shared libraries, per-mod environments, bounded steps; and the CLI flags.

use std::rc::Rc;

use lunette::{CaptureHost, Executor, Fuel, Grants, Lua};

fn sandbox() -> (Lua, CaptureHost) {
    // Even a host that grants everything gets a sandbox with nothing granted.
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
         nil\t[string \"bin\"]: binary chunks are not supported by lunette\n\
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
        assert!(!lua.step(&exec, &mut fuel));
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
        "lunette: fuel exhausted (100000 units)\n"
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
