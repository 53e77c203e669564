//! The execution model seen from the host: fuel-bounded steps, resumability, errors as
//! values with tracebacks, stackless depth, and handles that outlive `enter`.

use std::rc::Rc;

use lunette::{CaptureHost, ExecResult, Executor, Fuel, Lua, LuaErrorKind, Value};

fn lua_with_capture() -> (Lua, CaptureHost) {
    let host = CaptureHost::new();
    (Lua::with_host(Rc::new(host.clone())), host)
}

/// A VM whose scripts may use the `debug` library (hooks).
fn lua_with_debug() -> Lua {
    let host = CaptureHost {
        grants: lunette::Grants {
            debug: true,
            ..lunette::Grants::default()
        },
        ..CaptureHost::default()
    };
    Lua::with_host(Rc::new(host))
}

fn start(lua: &mut Lua, src: &str) -> lunette::StashedExecutor {
    let f = lua.load(src.as_bytes(), "=test").expect("compiles");
    lua.enter(|ctx| {
        let f = ctx.fetch(&f).unwrap();
        ctx.stash_executor(Executor::start(ctx, f, &[]))
    })
}

#[test]
fn infinite_loop_returns_after_its_budget_and_can_resume() {
    let (mut lua, _) = lua_with_capture();
    let exec = start(&mut lua, "local n = 0 while true do n = n + 1 end");
    for _ in 0..50 {
        let mut fuel = Fuel::new(1000);
        let done = lua.step(&exec, &mut fuel).is_done();
        assert!(!done, "an infinite loop never finishes");
        // The overrun is bounded by one straight-line stretch of code.
        assert!(
            fuel.remaining() > -50,
            "overran the budget: {}",
            fuel.remaining()
        );
    }
}

#[test]
fn infinite_recursion_of_calls_is_also_bounded_by_fuel() {
    let (mut lua, _) = lua_with_capture();
    let exec = start(&mut lua, "local function f() return f() end f()");
    let mut fuel = Fuel::new(10_000);
    assert!(!lua.step(&exec, &mut fuel).is_done());
    assert!(fuel.remaining() > -50);
}

#[test]
fn stepped_execution_gives_the_same_result_as_one_run() {
    let src = "local s = 0 for i = 1, 10000 do s = s + i * 2 end print(s) return s";
    let (mut lua, host) = lua_with_capture();
    let exec = start(&mut lua, src);
    let mut steps = 0;
    loop {
        let mut fuel = Fuel::new(37);
        steps += 1;
        if lua.step(&exec, &mut fuel).is_done() {
            break;
        }
    }
    assert!(steps > 100, "small budgets need many steps ({steps})");
    assert_eq!(
        String::from_utf8(host.take_stdout()).unwrap(),
        "100010000\n"
    );
    let result = lua.enter(|ctx| match ctx.fetch_executor(&exec).unwrap().result() {
        Some(ExecResult::Returned(v)) => v
            .iter()
            .map(|v| lunette::vm::display_plain(*v))
            .collect::<Vec<_>>(),
        _ => panic!("expected results"),
    });
    assert_eq!(result, vec!["100010000"]);
}

#[test]
fn coroutines_and_pcall_survive_tiny_steps() {
    let src = r#"
        local co = coroutine.wrap(function(a)
            local ok, e = pcall(function()
                for i = 1, 3 do coroutine.yield(a + i) end
                error("stop")
            end)
            return ok, e
        end)
        print(co(10), co(), co(), co())
    "#;
    let (mut lua, host) = lua_with_capture();
    let exec = start(&mut lua, src);
    while !lua.step(&exec, &mut Fuel::new(3)).is_done() {}
    assert_eq!(
        String::from_utf8(host.take_stdout()).unwrap(),
        "11\t12\t13\tfalse\ttest:5: stop\n"
    );
}

#[test]
fn uncaught_error_has_message_and_traceback() {
    let (mut lua, _) = lua_with_capture();
    let err = lua
        .execute(
            b"local function f() local x = nil; return x.y end\nf()",
            "@t.lua",
        )
        .unwrap_err();
    assert_eq!(err.kind, LuaErrorKind::Runtime);
    assert_eq!(
        err.message,
        "t.lua:1: attempt to index a nil value (local 'x')"
    );
    assert!(
        err.traceback.starts_with("stack traceback:"),
        "{}",
        err.traceback
    );
    assert!(
        err.traceback.contains("t.lua:1: in local 'f'"),
        "{}",
        err.traceback
    );
    assert!(
        err.traceback.contains("t.lua:2: in main chunk"),
        "{}",
        err.traceback
    );
}

#[test]
fn syntax_errors_are_values() {
    let (mut lua, _) = lua_with_capture();
    let err = lua.execute(b"x = = 1", "=src").unwrap_err();
    assert_eq!(err.kind, LuaErrorKind::Syntax);
    assert_eq!(err.message, "src:1: unexpected symbol near '='");
}

#[test]
fn non_string_error_values_are_described() {
    let (mut lua, _) = lua_with_capture();
    let err = lua.execute(b"error({})", "=src").unwrap_err();
    assert_eq!(err.message, "(error object is a table value)");
    let err = lua.execute(b"error(42)", "=src").unwrap_err();
    assert_eq!(err.message, "42");
}

#[test]
fn deep_lua_recursion_is_a_catchable_stack_overflow() {
    let (mut lua, host) = lua_with_capture();
    lua.execute(
        b"local function f(n) return 1 + f(n + 1) end
          local ok, e = pcall(f, 1)
          print(ok, e)",
        "@so.lua",
    )
    .unwrap();
    let out = String::from_utf8(host.take_stdout()).unwrap();
    assert_eq!(out, "false\tso.lua:1: stack overflow\n");
}

#[test]
fn deep_non_tail_recursion_does_not_use_the_rust_stack() {
    // 150k nested Lua calls: far deeper than a Rust-recursive interpreter could go.
    let (mut lua, host) = lua_with_capture();
    lua.execute(
        b"local function depth(n) if n == 0 then return 0 end return 1 + depth(n - 1) end
          print(depth(150000))",
        "=deep",
    )
    .unwrap();
    assert_eq!(String::from_utf8(host.take_stdout()).unwrap(), "150000\n");
}

#[test]
fn metamethod_chains_end_at_puc_s_c_call_depth() {
    // A __index function that recurses through another table's __index: 150 levels run,
    // 10,000 end with PUC's "C stack overflow" after 197 (the main chunk's call counts as
    // PUC's first C-level call), in the metamethod's caller, without recursing on the Rust
    // stack either way.
    let chain = |levels: u32| {
        let (mut lua, host) = lua_with_capture();
        let r = lua.execute(
            format!(
                "local depth = 0
                 local mt = {{}}
                 mt.__index = function(t, k)
                   depth = depth + 1
                   if depth < {levels} then return setmetatable({{}}, mt)[k] end
                   return depth
                 end
                 print(pcall(function() return setmetatable({{}}, mt).x end))
                 print(depth)"
            )
            .as_bytes(),
            "=meta",
        );
        assert!(r.is_ok(), "{r:?}");
        String::from_utf8(host.take_stdout()).unwrap()
    };
    assert_eq!(chain(150), "true\t150\n150\n");
    assert_eq!(chain(10_000), "false\tmeta:5: C stack overflow\n197\n");
}

#[test]
fn host_values_and_handles_outlive_enter() {
    let (mut lua, _) = lua_with_capture();
    let results = lua
        .execute(b"t = {answer = 42} return t.answer, 'x', 1.5", "=h")
        .unwrap();
    assert_eq!(results, vec!["42", "x", "1.5"]);
    let handle = lua.enter(|ctx| {
        let t = ctx.globals().get(ctx.str("t"));
        ctx.stash(t)
    });
    lua.gc_collect();
    let answer = lua.enter(|ctx| match ctx.fetch(&handle).unwrap() {
        Value::Table(t) => t.get(ctx.str("answer")).to_integer(),
        _ => None,
    });
    assert_eq!(answer, Some(42));
}

#[test]
fn rust_callbacks_can_be_registered_and_called() {
    fn add<'gc>(
        _ctx: lunette::Context<'gc>,
        exec: &mut lunette::vm::Exec<'gc, '_>,
    ) -> Result<lunette::Action<'gc>, lunette::Error<'gc>> {
        let a = exec
            .arg(0)
            .to_integer()
            .ok_or_else(|| lunette::Error::type_error(1, "number", exec.get(0)))?;
        let b = exec
            .arg(1)
            .to_integer()
            .ok_or_else(|| lunette::Error::type_error(2, "number", exec.get(1)))?;
        exec.set_return(Value::Integer(a + b));
        Ok(lunette::Action::Return)
    }
    let (mut lua, host) = lua_with_capture();
    lua.enter(|ctx| {
        let cb = lunette::Callback::new(ctx, "add", add);
        ctx.globals()
            .set(ctx, ctx.str("add"), Value::Callback(cb))
            .unwrap();
    });
    lua.execute(b"print(add(2, 3)) print(pcall(add, 1))", "=cb")
        .unwrap();
    assert_eq!(
        String::from_utf8(host.take_stdout()).unwrap(),
        "5\nfalse\tbad argument #2 to 'add' (number expected, got no value)\n"
    );
}

/// `sum_calls(f, n)`: f(1) + ... + f(n), calling `f` with `Action::Call` first and
/// `Action::CallAgain` from its continuation after that.
fn sum_calls<'gc>(
    ctx: lunette::Context<'gc>,
    exec: &mut lunette::vm::Exec<'gc, '_>,
) -> Result<lunette::Action<'gc>, lunette::Error<'gc>> {
    let f = exec.arg(0);
    let n = exec.arg(1);
    let state = ctx.new_table();
    for (k, v) in [
        ("f", f),
        ("n", n),
        ("i", Value::Integer(1)),
        ("sum", Value::Integer(0)),
    ] {
        state.set(ctx, ctx.str(k), v).unwrap();
    }
    exec.replace(&[Value::Integer(1)]);
    Ok(lunette::Action::Call {
        function: f,
        then: Some(lunette::Then::new(
            "sum_calls",
            sum_next,
            Value::Table(state),
        )),
    })
}

fn sum_next<'gc>(
    ctx: lunette::Context<'gc>,
    exec: &mut lunette::vm::Exec<'gc, '_>,
    _outcome: lunette::Outcome<'gc>,
) -> Result<lunette::Action<'gc>, lunette::Error<'gc>> {
    let Value::Table(state) = exec.upvalue else {
        unreachable!()
    };
    let field = |k: &str| state.get(ctx.str(k));
    let sum = field("sum").to_integer().unwrap() + exec.arg(0).to_integer().unwrap_or(0);
    let i = field("i").to_integer().unwrap() + 1;
    state.set(ctx, ctx.str("sum"), Value::Integer(sum)).unwrap();
    state.set(ctx, ctx.str("i"), Value::Integer(i)).unwrap();
    if i > field("n").to_integer().unwrap() {
        exec.replace(&[Value::Integer(sum)]);
        return Ok(lunette::Action::Return);
    }
    exec.set_call(field("f"), [Value::Integer(i)]);
    Ok(lunette::Action::CallAgain)
}

#[test]
fn a_continuation_calls_again_with_call_again() {
    fn not_a_continuation<'gc>(
        _ctx: lunette::Context<'gc>,
        _exec: &mut lunette::vm::Exec<'gc, '_>,
    ) -> Result<lunette::Action<'gc>, lunette::Error<'gc>> {
        Ok(lunette::Action::CallAgain)
    }
    let (mut lua, host) = lua_with_capture();
    lua.enter(|ctx| {
        for (name, f) in [
            ("sum_calls", sum_calls as lunette::CallbackFn),
            ("again", not_a_continuation),
        ] {
            let cb = lunette::Callback::new(ctx, name, f);
            ctx.globals()
                .set(ctx, ctx.str(name), Value::Callback(cb))
                .unwrap();
        }
    });
    lua.execute(
        b"print(sum_calls(function(x) return x * x end, 4))
          local co = coroutine.wrap(function()
            return sum_calls(function(x) coroutine.yield(x) return x * 10 end, 3)
          end)
          print(co(), co(), co(), co())
          print(pcall(sum_calls, function(x) if x == 2 then error('boom') end return x end, 3))
          print(pcall(sum_calls, function(x) return x end, 3, 'extra'))
          print(pcall(again))",
        "=again",
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(host.take_stdout()).unwrap(),
        "30\n1\t2\t3\t60\nfalse\tagain:6: boom\ntrue\t6\n\
         false\tAction::CallAgain returned by a function that is not a continuation\n"
    );
}

#[test]
fn tostring_of_objects_uses_stable_ids_not_addresses() {
    // Two fresh VMs running the same script print the same identities.
    let run = || {
        let (mut lua, host) = lua_with_capture();
        lua.execute(
            b"local a, b = {}, {} print(tostring(a), tostring(b), tostring(print) ~= nil)",
            "=ids",
        )
        .unwrap();
        String::from_utf8(host.take_stdout()).unwrap()
    };
    let first = run();
    assert_eq!(first, run());
    assert!(first.starts_with("table: 0x"), "{first}");
}

#[test]
fn pairs_order_is_a_function_of_insertion_history() {
    let (mut lua, host) = lua_with_capture();
    lua.execute(
        b"local t = {}
          for _, k in ipairs({'delta', 'alpha', 'charlie', 'bravo'}) do t[k] = true end
          t.alpha = nil
          t.echo = true
          local keys = {}
          for k in pairs(t) do keys[#keys + 1] = k end
          print(keys[1], keys[2], keys[3], keys[4])",
        "=order",
    )
    .unwrap();
    // The hash part is full (four entries): `echo` takes the place `alpha` left.
    assert_eq!(
        String::from_utf8(host.take_stdout()).unwrap(),
        "delta\techo\tcharlie\tbravo\n"
    );
}

#[test]
fn async_sequences_call_back_into_lua_and_yield() {
    use lunette::vm::{async_callback, SequenceError};
    let (mut lua, host) = lua_with_capture();
    lua.enter(|ctx| {
        // twice(f, x): calls f(x), then f(result), catching a Lua error as a message.
        let twice = async_callback(ctx, "twice", |seq| {
            Box::pin(async move {
                let f = seq.args()[0].clone();
                let x = seq.args()[1].clone();
                let once = seq
                    .call(f.clone(), vec![x])
                    .await
                    .map_err(SequenceError::Lua)?;
                seq.call(f, once).await.map_err(SequenceError::Lua)
            })
        });
        // relay(): yields "ping", then returns what it was resumed with, doubled in Lua.
        let relay = async_callback(ctx, "relay", |seq| {
            Box::pin(async move {
                let ping = seq.enter(|ctx, _| ctx.stash(ctx.str("ping"))).await;
                let back = seq.yield_values(vec![ping]).await;
                let n = seq
                    .enter(move |ctx, _| ctx.fetch(&back[0]).unwrap().to_integer().unwrap_or(0))
                    .await;
                let doubled = seq
                    .enter(move |ctx, _| ctx.stash(Value::Integer(n * 2)))
                    .await;
                Ok(vec![doubled])
            })
        });
        let g = ctx.globals();
        g.set(ctx, ctx.str("twice"), Value::Callback(twice))
            .unwrap();
        g.set(ctx, ctx.str("relay"), Value::Callback(relay))
            .unwrap();
    });
    let exec = start(
        &mut lua,
        r#"
        print(twice(function(n) return n * 3 end, 2))
        print(pcall(twice, function(n) error("bad " .. n) end, 1))
        local co = coroutine.create(function() return relay() end)
        print(coroutine.resume(co))
        print(coroutine.resume(co, 21))
        "#,
    );
    while !lua.step(&exec, &mut Fuel::new(5)).is_done() {}
    assert_eq!(
        String::from_utf8(host.take_stdout()).unwrap(),
        "18\nfalse\ttest:3: bad 1\ntrue\tping\ntrue\t42\n"
    );
}

#[test]
fn host_full_collection_clears_weak_tables_and_runs_finalizers_at_the_next_step() {
    let (mut lua, host) = lua_with_capture();
    lua.execute(
        b"cache = setmetatable({}, {__mode = 'v'})
          cache.item = {}
          setmetatable({}, {__gc = function() print('finalized') end})",
        "=setup",
    )
    .unwrap();
    // Incremental collection never changes what a script observes.
    for _ in 0..10 {
        lua.gc_step();
    }
    lua.execute(b"print(cache.item ~= nil)", "=check").unwrap();
    assert_eq!(String::from_utf8(host.take_stdout()).unwrap(), "true\n");
    // A host-requested full collection does; the finalizer runs at the next step.
    lua.gc_collect();
    lua.execute(b"print(cache.item)", "=after").unwrap();
    assert_eq!(
        String::from_utf8(host.take_stdout()).unwrap(),
        "finalized\nnil\n"
    );
}

#[test]
fn long_straight_line_code_stops_where_its_budget_runs_out() {
    // 30,000 lines without a backward jump, with a few calls into a short function (which
    // runs in the fast loop) and back, and a hook set and cleared halfway (the loop's
    // other mode), on the main thread and in a coroutine: each step stops within a few
    // units of its budget, and the result and the fuel spent are those of one run with a
    // big budget.
    let mut body = String::from(
        "local x = 0\nlocal function inc(v) for _ = 1, 3 do v = v + 1 end return v end\n",
    );
    for i in 0..30_000 {
        match i {
            15_000 => body.push_str("debug.sethook(function() x = x + 1 end, '', 100)\n"),
            16_000 => body.push_str("debug.sethook()\n"),
            _ if i % 4_000 == 7 => body.push_str("x = inc(x)\n"),
            _ => body.push_str("x = x + 1\n"),
        }
    }
    body.push_str("return x");
    let vm = lua_with_debug;
    for src in [
        body.clone(),
        format!("return coroutine.wrap(function()\n{body}\nend)()"),
    ] {
        // Runs in steps of `budget`; after `move_at` steps, goes on in a fresh VM restored
        // from a snapshot (the frame paused inside the long code).
        let run = |budget: i64, move_at: Option<usize>| {
            let mut lua = vm();
            let mut exec = start(&mut lua, &src);
            let (mut steps, mut worst, mut used) = (0, 0, 0);
            loop {
                if Some(steps) == move_at {
                    let snapshot = lua.snapshot().unwrap();
                    lua = vm();
                    lua.restore(&snapshot).unwrap();
                    exec = lua.restored_executor(exec.id()).unwrap();
                }
                let mut fuel = Fuel::new(budget);
                steps += 1;
                let done = lua.step(&exec, &mut fuel).is_done();
                worst = worst.max(-fuel.remaining());
                used += budget - fuel.remaining();
                if done {
                    break;
                }
            }
            let result = lua.enter(|ctx| match ctx.fetch_executor(&exec).unwrap().result() {
                Some(ExecResult::Returned(v)) => lunette::vm::display_plain(v[0]),
                other => panic!("expected a result, got {other:?}"),
            });
            (result, steps, worst, used)
        };
        let (whole, _, _, fuel) = run(i64::MAX / 2, None);
        let (stepped, steps, worst, used) = run(1_000, None);
        assert_eq!(stepped, whole);
        assert_eq!(used, fuel, "the fuel spent in steps");
        assert!(steps > 25, "{steps} steps of 1,000 units");
        assert!(worst < 50, "a step overran its budget by {worst}");
        // Moved mid-way, and during the hook's stretch (lines 15,000 to 16,000: 16 steps
        // of 1,000 units end past its `sethook`).
        for at in [7, 16] {
            let (moved, _, worst, used) = run(1_000, Some(at));
            assert_eq!(moved, whole, "moved after {at} steps");
            assert_eq!(used, fuel, "the fuel spent, moved after {at} steps");
            assert!(worst < 50, "a step overran its budget by {worst}");
        }
    }
}

#[test]
fn a_hook_set_after_a_generic_for_in_long_code_sees_every_line() {
    // A generic `for` marks its first `TForCall` as traced (PUC runs it without fetching it);
    // in long code without a hook that mark was left behind, and the first line after a
    // later `debug.sethook` went unseen. Line numbers relative to the padding: PUC 5.4.8
    // prints 4,5,6 for both.
    for pad in [0, 9_000] {
        let src = format!(
            "local x, seen = 0, {{}}\n{}for _ in pairs({{}}) do end\n\
             debug.sethook(function(_, l) seen[#seen + 1] = l end, 'l')\n\
             local a = 1\nlocal b = 2\ndebug.sethook()\n\
             local r = {{}} for i, l in ipairs(seen) do r[i] = l - {pad} end\n\
             return table.concat(r, ',')",
            "x = x + 1\n".repeat(pad)
        );
        let mut lua = lua_with_debug();
        let exec = start(&mut lua, &src);
        while !lua.step(&exec, &mut Fuel::new(1_000)).is_done() {}
        let lines = lua.enter(|ctx| match ctx.fetch_executor(&exec).unwrap().result() {
            Some(ExecResult::Returned(v)) => lunette::vm::display_plain(v[0]),
            other => panic!("expected a result, got {other:?}"),
        });
        assert_eq!(lines, "4,5,6", "padded by {pad} lines");
    }
}

#[test]
fn loops_whose_back_edge_is_a_conditional_jump_are_bounded_by_fuel() {
    // The back edge of these loops is the `Jmp` after a comparison or test (found by the
    // hostile-input suite: they used to never return from `step`).
    for src in [
        "local x = 1 while true do if x == 0 then end end",
        "local x = 1 repeat until x < 0",
        "local x = 1 repeat until x == 0",
        "local t, x = {}, true while true do x = x and t end",
        "local t = {} while t do end",
    ] {
        let (mut lua, _) = lua_with_capture();
        let exec = start(&mut lua, src);
        for _ in 0..20 {
            let mut fuel = Fuel::new(1_000);
            assert!(!lua.step(&exec, &mut fuel).is_done(), "{src}");
            assert!(
                fuel.remaining() > -50,
                "{src}: overran by {}",
                -fuel.remaining()
            );
        }
    }
}

#[test]
fn nested_resumes_are_limited_like_puc() {
    let (mut lua, host) = lua_with_capture();
    lua.execute(
        b"local function nest(n)
            if n == 0 then return 'bottom' end
            local ok, v = coroutine.resume(coroutine.create(nest), n - 1)
            return v
          end
          print(nest(150), nest(300))",
        "=nest",
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(host.take_stdout()).unwrap(),
        "bottom\tC stack overflow\n"
    );
}

/// `Lua::interrupt` raises an error where a paused executor stopped: `pcall` around that
/// point catches it, `__close` handlers run, a coroutine running there dies by it (its
/// resumer gets it), and a snapshot keeps a pending interrupt.
#[test]
fn interrupts_are_errors_raised_where_the_executor_stopped() {
    let (mut lua, host) = lua_with_capture();
    let exec = lua
        .chunk(
            r#"
            local log = {}
            local ok, e = pcall(function()
                local guard <close> = setmetatable({}, {__close = function(_, err)
                    log[#log + 1] = "closed by " .. tostring(err)
                end})
                while true do end
            end)
            log[#log + 1] = tostring(ok) .. " " .. e
            local co = coroutine.create(function() while true do end end)
            local ok2, e2 = coroutine.resume(co)
            log[#log + 1] = tostring(ok2) .. " " .. e2
            print(table.concat(log, "; "))
            while true do end
            "#,
        )
        .name("=interrupts")
        .start(())
        .unwrap();
    let step = |lua: &mut Lua| lua.step(&exec, &mut Fuel::new(1000));
    assert_eq!(step(&mut lua), lunette::StepStatus::OutOfFuel);
    lua.interrupt(&exec, "stop 1").unwrap();
    // (Inside the coroutine now, after one more step.)
    assert_eq!(step(&mut lua), lunette::StepStatus::OutOfFuel);
    lua.interrupt(&exec, "stop 2").unwrap();
    // A pending interrupt survives a snapshot and its restore.
    let snapshot = lua.snapshot().unwrap();
    lua.restore(&snapshot).unwrap();
    assert_eq!(step(&mut lua), lunette::StepStatus::OutOfFuel);
    assert_eq!(
        String::from_utf8(host.take_stdout()).unwrap(),
        "closed by stop 1; false stop 1; false stop 2\n"
    );
    // Uncaught: the executor fails with it.
    lua.interrupt(&exec, "stop 3").unwrap();
    assert_eq!(step(&mut lua), lunette::StepStatus::Errored);
    assert_eq!(lua.results::<()>(&exec).unwrap_err().message, "stop 3");
}
