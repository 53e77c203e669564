//! The embedding API: typed conversions, host functions, calls and evaluation, step status,
//! errors, app data, and host functions across snapshots.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use lunette::{
    Bytes, CaptureHost, Fuel, Lua, LuaErrorKind, StashedValue, StepStatus, Value, Variadic,
};

fn quiet() -> (Lua, CaptureHost) {
    let host = CaptureHost::new();
    (Lua::with_host(Rc::new(host.clone())), host)
}

#[test]
fn typed_functions_convert_arguments_and_results() {
    let (mut lua, _) = quiet();
    let add = lua.create_function("add", |_, (a, b): (i64, i64)| Ok(a + b));
    lua.set_global("add", &add).unwrap();
    assert_eq!(lua.eval::<i64>("add(40, 2)").unwrap(), 42);
    // Floats with an exact integer value and numeric strings are integers, like PUC.
    assert_eq!(lua.eval::<i64>("add(1.0, '2')").unwrap(), 3);

    let join = lua.create_function("join", |_, (sep, parts): (String, Variadic<String>)| {
        Ok(parts.join(&sep))
    });
    lua.set_global("join", &join).unwrap();
    assert_eq!(
        lua.eval::<String>("join('-', 'a', 'b', 3)").unwrap(),
        "a-b-3"
    );

    let stats = lua.create_function("stats", |_, xs: Vec<f64>| {
        let sum: f64 = xs.iter().sum();
        Ok((sum, xs.len() as i64, Variadic(xs)))
    });
    lua.set_global("stats", &stats).unwrap();
    let (sum, n, rest): (f64, i64, Variadic<f64>) = lua.eval("stats({1, 2, 3.5})").unwrap();
    assert_eq!((sum, n, rest.0), (6.5, 3, vec![1.0, 2.0, 3.5]));

    let opt = lua.create_function("opt", |_, (a, b): (Option<i64>, Option<String>)| {
        Ok(format!("{a:?} {b:?}"))
    });
    lua.set_global("opt", &opt).unwrap();
    assert_eq!(lua.eval::<String>("opt()").unwrap(), "None None");
    assert_eq!(
        lua.eval::<String>("opt(nil, 'x')").unwrap(),
        "None Some(\"x\")"
    );
}

#[test]
fn argument_errors_read_like_the_standard_library() {
    let (mut lua, _) = quiet();
    let add = lua.create_function("add", |_, (a, b): (i64, i64)| Ok(a + b));
    lua.set_global("add", &add).unwrap();
    let cases = [
        (
            "add(1)",
            "bad argument #2 to 'add' (number expected, got no value)",
        ),
        (
            "add(1, nil)",
            "bad argument #2 to 'add' (number expected, got nil)",
        ),
        (
            "add({}, 1)",
            "bad argument #1 to 'add' (number expected, got table)",
        ),
        (
            "add(1.5, 1)",
            "bad argument #1 to 'add' (number has no integer representation)",
        ),
        (
            "local t = setmetatable({}, {__name = 'Vec2'}) return add(t, 1)",
            "bad argument #1 to 'add' (number expected, got Vec2)",
        ),
    ];
    for (src, want) in cases {
        let err = lua.exec(src).unwrap_err();
        assert_eq!(err.kind, LuaErrorKind::Runtime, "{src}");
        assert!(err.message.ends_with(want), "{src}: {}", err.message);
    }
    let small = lua.create_function("small", |_, b: u8| Ok(b));
    lua.set_global("small", &small).unwrap();
    let err = lua.exec("small(300)").unwrap_err();
    assert!(
        err.message
            .ends_with("bad argument #1 to 'small' (integer out of range)"),
        "{}",
        err.message
    );
    // Errors raised by the closure are positioned like luaL_error.
    let fail = lua.create_function("fail", |_, ()| -> Result<(), _> { Err("no way".into()) });
    lua.set_global("fail", &fail).unwrap();
    let err = lua.chunk("\n\nfail()").name("=mod").exec().unwrap_err();
    assert_eq!(err.message, "mod:3: no way");
}

#[test]
fn conversions_of_tables_and_maps() {
    let (mut lua, _) = quiet();
    let v: Vec<i64> = lua.eval("{1, 2, 3}").unwrap();
    assert_eq!(v, vec![1, 2, 3]);
    let m: BTreeMap<String, i64> = lua.eval("{a = 1, b = 2}").unwrap();
    assert_eq!(
        m.into_iter().collect::<Vec<_>>(),
        vec![("a".into(), 1), ("b".into(), 2)]
    );
    let err = lua.eval::<Vec<i64>>("{1, 'x', 3}").unwrap_err();
    assert_eq!(err.kind, LuaErrorKind::Conversion);
    assert_eq!(
        err.message,
        "bad result #1 (number expected at index 2, got string)"
    );
    let err = lua.eval::<i64>("nil").unwrap_err();
    assert_eq!(err.message, "bad result #1 (number expected, got nil)");

    // A hash map enters Lua in key order, whatever its own order: iteration order is
    // visible to scripts and must not depend on the hasher's random seed.
    let mut h = HashMap::new();
    for (i, k) in ["delta", "alpha", "charlie", "bravo", "echo"]
        .iter()
        .enumerate()
    {
        h.insert(k.to_string(), i as i64);
    }
    lua.set_global("h", h).unwrap();
    let order: String = lua
        .eval("(function() local s = '' for k in pairs(h) do s = s .. k:sub(1, 1) end return s end)()")
        .unwrap();
    assert_eq!(order, "abcde");

    // Bytes need not be UTF-8; String refuses what is not.
    let b: Bytes = lua.eval("'\\xff\\0a'").unwrap();
    assert_eq!(b.0, vec![0xff, 0, b'a']);
    let err = lua.eval::<String>("'\\xff'").unwrap_err();
    assert_eq!(err.message, "bad result #1 (string is not valid UTF-8)");
    // Numbers read as strings like tostring.
    assert_eq!(lua.eval::<String>("2^53").unwrap(), "9.007199254741e+15");
    assert!(lua.eval::<bool>("0").unwrap());
    assert!(!lua.eval::<bool>("nil").unwrap());
}

#[test]
fn globals_calls_and_chunks() {
    let (mut lua, host) = quiet();
    lua.set_global("speed", 2.5).unwrap();
    lua.exec("function scale(v) return v * speed, 'scaled' end")
        .unwrap();
    let (x, tag): (f64, String) = lua.call_global("scale", 4).unwrap();
    assert_eq!((x, tag.as_str()), (10.0, "scaled"));
    let scale: StashedValue = lua.global("scale").unwrap();
    assert_eq!(lua.call::<f64>(&scale, 1).unwrap(), 2.5);
    let err = lua.global::<i64>("missing").unwrap_err();
    assert_eq!(err.message, "global 'missing': number expected, got nil");

    // An environment per chunk.
    let env = lua.new_table();
    lua.chunk("x = 1").env(&env).exec().unwrap();
    assert_eq!(lua.chunk("return x").env(&env).eval::<i64>().unwrap(), 1);
    assert_eq!(lua.global::<Option<i64>>("x").unwrap(), None);

    // eval accepts blocks too, and chunk args are `...`.
    assert_eq!(lua.eval::<i64>("local a = 20 return a + 1").unwrap(), 21);
    let n: i64 = lua
        .chunk("return select('#', ...)")
        .call((1, 2, 3))
        .unwrap();
    assert_eq!(n, 3);
    lua.exec("print('out')").unwrap();
    assert_eq!(host.take_stdout(), b"out\n");

    // Chunk names follow load's conventions; the default is the source.
    let err = lua.exec("error('boom')").unwrap_err();
    assert_eq!(err.message, "[string \"error('boom')\"]:1: boom");
    let err = lua
        .chunk("error('boom')")
        .name("@mods/a.lua")
        .exec()
        .unwrap_err();
    assert_eq!(err.message, "mods/a.lua:1: boom");
    let err = lua.chunk("\x1bLua").exec().unwrap_err();
    assert_eq!(err.kind, LuaErrorKind::Syntax);
    assert_eq!(err.message, "attempt to load a binary chunk (mode is 't')");
}

#[test]
fn errors_keep_kind_value_and_traceback() {
    let (mut lua, _) = quiet();
    let err = lua.exec("x = = 1").unwrap_err();
    assert_eq!(err.kind, LuaErrorKind::Syntax);
    assert_eq!(
        err.message,
        "[string \"x = = 1\"]:1: unexpected symbol near '='"
    );
    assert!(err.value.is_none());

    let err = lua
        .chunk("local function f() error({code = 7}) end\nf()")
        .name("=m")
        .exec()
        .unwrap_err();
    assert_eq!(err.kind, LuaErrorKind::Runtime);
    assert_eq!(err.message, "(error object is a table value)");
    let value = err.value.clone().expect("the raised value is kept");
    lua.set_global("e", &value).unwrap();
    assert_eq!(lua.eval::<i64>("e.code").unwrap(), 7);
    let shown = err.to_string();
    assert!(
        shown.starts_with("(error object is a table value)\nstack traceback:\n"),
        "{shown}"
    );
    assert!(shown.contains("m:1: in "), "{shown}");

    let limit = lua.memory_used() + (1 << 20);
    lua.set_memory_limit(Some(limit));
    let err = lua
        .exec("local t = {} for i = 1, 1e7 do t[i] = i end")
        .unwrap_err();
    assert_eq!(err.kind, LuaErrorKind::Memory);
    assert_eq!(err.message, "not enough memory");
    lua.set_memory_limit(None);

    let spin = {
        lua.exec("function spin() while true do end end").unwrap();
        lua.global::<StashedValue>("spin").unwrap()
    };
    let err = lua.call_with_fuel::<()>(&spin, (), 50_000).unwrap_err();
    assert_eq!(err.kind, LuaErrorKind::Fuel);
    assert_eq!(
        err.message,
        "fuel exhausted (50000 units) before the call finished"
    );
    // The VM goes on.
    assert_eq!(lua.eval::<i64>("1 + 1").unwrap(), 2);
}

#[test]
fn step_status_tells_finished_from_paused() {
    let (mut lua, _) = quiet();
    let exec = lua
        .chunk("local n = 0 for i = 1, 1e5 do n = n + i end return n")
        .start(())
        .unwrap();
    let mut statuses = Vec::new();
    loop {
        let s = lua.step(&exec, &mut Fuel::new(10_000));
        statuses.push(s);
        if s.is_done() {
            break;
        }
    }
    assert!(statuses.len() > 5);
    assert!(statuses[..statuses.len() - 1]
        .iter()
        .all(|s| *s == StepStatus::OutOfFuel));
    assert_eq!(*statuses.last().unwrap(), StepStatus::Returned);
    assert_eq!(lua.results::<i64>(&exec).unwrap(), 5_000_050_000);
    // Stepping a finished executor does nothing.
    assert_eq!(lua.step(&exec, &mut Fuel::new(10)), StepStatus::Returned);

    let exec = lua.chunk("error('bad')").name("=x").start(()).unwrap();
    assert_eq!(lua.step(&exec, &mut Fuel::new(100)), StepStatus::Errored);
    assert_eq!(lua.results::<()>(&exec).unwrap_err().message, "x:1: bad");

    let running = lua.chunk("while true do end").start(()).unwrap();
    assert_eq!(
        lua.step(&running, &mut Fuel::new(100)),
        StepStatus::OutOfFuel
    );
    let err = lua.results::<()>(&running).unwrap_err();
    assert_eq!(err.kind, LuaErrorKind::Host);
}

#[test]
fn an_async_callback_waiting_outside_the_vm_reports_waiting() {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context as TaskContext, Poll};

    /// A future that is ready once the host sets the flag (an asset loader, a socket...).
    struct Flag(Rc<Cell<bool>>);
    impl Future for Flag {
        type Output = ();
        fn poll(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<()> {
            if self.0.get() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }
    }

    let (mut lua, _) = quiet();
    let ready = Rc::new(Cell::new(false));
    let flag = ready.clone();
    lua.enter(|ctx| {
        let cb = lunette::vm::async_callback(ctx, "load_asset", move |seq| {
            let flag = flag.clone();
            Box::pin(async move {
                Flag(flag).await;
                let v = seq.enter(|ctx, _| ctx.stash(ctx.str("loaded"))).await;
                Ok(vec![v])
            })
        });
        ctx.globals()
            .set(ctx, ctx.str("load_asset"), Value::Callback(cb))
            .unwrap();
    });
    let exec = lua.chunk("return load_asset() .. '!'").start(()).unwrap();
    for _ in 0..3 {
        assert_eq!(lua.step(&exec, &mut Fuel::new(1000)), StepStatus::Waiting);
    }
    ready.set(true);
    assert_eq!(lua.step(&exec, &mut Fuel::new(1000)), StepStatus::Returned);
    assert_eq!(lua.results::<String>(&exec).unwrap(), "loaded!");
}

#[test]
fn app_data_reaches_host_functions() {
    struct Score(RefCell<i64>);
    let (mut lua, _) = quiet();
    lua.set_app_data(Score(RefCell::new(0)));
    let add_score = lua.create_function("add_score", |ctx, n: i64| {
        let score = ctx.app_data::<Score>().ok_or("no score")?;
        *score.0.borrow_mut() += n;
        let total = *score.0.borrow();
        Ok(total)
    });
    lua.set_global("add_score", &add_score).unwrap();
    lua.exec("add_score(5) add_score(7)").unwrap();
    assert_eq!(*lua.app_data::<Score>().unwrap().0.borrow(), 12);
    assert!(lua.remove_app_data::<Score>().is_some());
    let err = lua.exec("add_score(1)").unwrap_err();
    assert!(err.message.ends_with("no score"), "{}", err.message);
}

#[test]
fn host_functions_survive_rollback_and_restore_by_name() {
    let (mut lua, _) = quiet();
    let calls = Rc::new(Cell::new(0));
    let counter = calls.clone();
    let double = lua.create_function("double", move |_, x: i64| {
        counter.set(counter.get() + 1);
        Ok(x * 2)
    });
    lua.set_global("double", &double).unwrap();
    lua.exec("total = 0 function tick() total = total + double(3) end")
        .unwrap();
    lua.snap().unwrap();
    lua.call_global::<()>("tick", ()).unwrap();
    let after_one = lua.checksum().unwrap();
    lua.rollback(1).unwrap();
    lua.call_global::<()>("tick", ()).unwrap();
    assert_eq!(lua.checksum().unwrap(), after_one);
    assert_eq!(lua.global::<i64>("total").unwrap(), 6);
    // Captured Rust state is host state: it is not rolled back.
    assert_eq!(calls.get(), 2);

    let snapshot = lua.snapshot().unwrap();
    let (mut other, _) = quiet();
    other.restore(&snapshot).unwrap();
    let err = other.call_global::<()>("tick", ()).unwrap_err();
    assert!(
        err.message
            .ends_with("host function 'double' is not registered in this VM"),
        "{}",
        err.message
    );
    other.restore(&snapshot).unwrap();
    other.register_function("double", |_, x: i64| Ok(x * 2));
    other.call_global::<()>("tick", ()).unwrap();
    assert_eq!(other.global::<i64>("total").unwrap(), 12);
}

/// What a typed host function's arguments copy to the host is held against the memory
/// limit (the same 1 MiB string 300 times is 300 MiB on the host side), and converting is
/// charged as fuel (a 100,000-element table is not one call's worth of work).
#[test]
fn argument_conversions_pay_memory_and_fuel() {
    let (mut lua, _) = quiet();
    let total = lua.create_function("total", |_, v: Vec<Bytes>| {
        Ok(v.iter().map(|b| b.0.len()).sum::<usize>())
    });
    lua.set_global("total", &total).unwrap();
    let sum = lua.create_function("sum", |_, v: Vec<i64>| Ok(v.iter().sum::<i64>()));
    lua.set_global("sum", &sum).unwrap();

    lua.exec("big = {} local s = ('x'):rep(1 << 20) for i = 1, 300 do big[i] = s end")
        .unwrap();
    let limit = lua.memory_used() + (4 << 20);
    lua.set_memory_limit(Some(limit));
    let err = lua.exec("return total(big)").unwrap_err();
    assert_eq!(err.kind, LuaErrorKind::Memory, "{err}");
    // Within the limit it works, and the VM goes on.
    assert_eq!(lua.eval::<i64>("total({'abc', 'de'})").unwrap(), 5);
    lua.set_memory_limit(None);

    lua.exec("t = {} for i = 1, 100000 do t[i] = i end")
        .unwrap();
    let f: StashedValue = lua
        .eval("function() for _ = 1, 100 do sum(t) end end")
        .unwrap();
    let err = lua.call_with_fuel::<()>(&f, (), 200_000).unwrap_err();
    assert_eq!(err.kind, LuaErrorKind::Fuel);
    let once: StashedValue = lua.eval("function() return sum(t) end").unwrap();
    assert_eq!(
        lua.call_with_fuel::<i64>(&once, (), 200_000).unwrap(),
        5_000_050_000
    );
}

/// An uncaught error raised by a Rust function shows it as the first frame, like PUC:
/// `[C]: in function 'string.rep'`.
#[test]
fn tracebacks_start_with_the_rust_function_that_raised() {
    let (mut lua, _) = quiet();
    let err = lua
        .chunk("local s = string.rep(nil)")
        .name("=m")
        .exec()
        .unwrap_err();
    assert_eq!(
        err.traceback,
        "stack traceback:\n\t[C]: in function 'string.rep'\n\tm:1: in main chunk\n\t[C]: in ?"
    );
}

/// A full collection right after the VM is made (no script run yet, the string interner
/// still growing its index in pieces) keeps every global reachable by name: finishing the
/// interner's move at once dropped the entries it had not moved yet, so a name interned
/// afterwards was a new string, unequal to the globals' key ("attempt to call a nil value
/// (global 'type')").
#[test]
fn a_full_collection_of_a_fresh_vm_keeps_the_globals() {
    for sandboxed in [false, true] {
        let host = Rc::new(CaptureHost::new());
        let mut lua = if sandboxed {
            Lua::sandboxed(host.clone())
        } else {
            Lua::with_host(host.clone())
        };
        lua.gc_collect();
        assert_globals_found(&mut lua, &format!("sandboxed: {sandboxed}"));
    }
}

/// Checks that a script finds the standard globals and string methods by name.
fn assert_globals_found(lua: &mut Lua, what: &str) {
    let r = lua.execute(
        b"return type(print), type(getmetatable), type(pairs), ('x'):upper(), _G == _ENV",
        "=t",
    );
    assert_eq!(
        r.unwrap(),
        ["function", "function", "function", "X", "true"],
        "{what}"
    );
}

/// A fresh VM's interner is in the middle of moving its index (its ~300 names were just
/// interned): a snapshot of it, a restore into another fresh VM, through bytes too, and full
/// collections on both sides keep every global reachable by name.
#[test]
fn snapshots_between_fresh_vms_keep_the_globals() {
    for through_bytes in [false, true] {
        let source = Lua::sandboxed(Rc::new(CaptureHost::new()));
        let snapshot = source.snapshot().unwrap();
        let snapshot = if through_bytes {
            source
                .snapshot_from_bytes(&snapshot.to_bytes().unwrap())
                .unwrap()
        } else {
            snapshot
        };
        let mut target = Lua::sandboxed(Rc::new(CaptureHost::new()));
        target.restore(&snapshot).unwrap();
        assert_globals_found(&mut target, "restored");
        target.gc_collect();
        assert_globals_found(&mut target, "restored, then collected");
        let mut target = Lua::sandboxed(Rc::new(CaptureHost::new()));
        target.gc_collect();
        target.restore(&snapshot).unwrap();
        target.gc_collect();
        assert_globals_found(&mut target, "collected, restored, collected");
        // The source still works after all this, collected too.
        let mut source = source;
        source.gc_collect();
        assert_globals_found(&mut source, "source");
    }
}
