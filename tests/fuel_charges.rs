//! Fuel and stack accounting of bulk value moves and long table-library calls: work that
//! grows with the number of values must be charged, and long calls must reach step
//! boundaries (each step overruns its budget by a bounded amount).

use std::rc::Rc;

use lunette::{CaptureHost, ExecResult, Executor, Fuel, Lua};

/// Runs `src` under the sandbox in steps of `budget`; returns (total fuel, worst overrun,
/// outcome: `Ok(())` or the error message).
fn run(src: &str, budget: i64) -> (i64, i64, Result<(), String>) {
    run_with(src, budget, true)
}

/// [`run`], with the VM's helper threads on or off (`Lua::set_helper_threads`).
fn run_with(src: &str, budget: i64, helper_threads: bool) -> (i64, i64, Result<(), String>) {
    let mut lua = Lua::sandboxed(Rc::new(CaptureHost::new()));
    lua.set_helper_threads(helper_threads);
    let f = lua.load(src.as_bytes(), "=t").expect("compiles");
    let exec = lua.enter(|ctx| {
        let f = ctx.fetch(&f).unwrap();
        ctx.stash_executor(Executor::start(ctx, f, &[]))
    });
    let (mut total, mut worst) = (0i64, 0i64);
    for _ in 0..1_000_000 {
        let mut fuel = Fuel::new(budget);
        let done = lua.step(&exec, &mut fuel).is_done();
        total += budget - fuel.remaining();
        worst = worst.max(-fuel.remaining());
        if done {
            let outcome = lua.enter(|ctx| match ctx.fetch_executor(&exec).unwrap().result() {
                Some(ExecResult::Returned(_)) => Ok(()),
                Some(ExecResult::Errored { value, .. }) => {
                    Err(lunette::vm::error_message(ctx, value))
                }
                None => Err("no result".into()),
            });
            return (total, worst, outcome);
        }
    }
    panic!("did not finish");
}

#[test]
fn vararg_copies_are_charged() {
    // Peeling n arguments one at a time copies ~n^2/2 values per kind of move (`...`
    // expansion, select's results, the tail call's arguments): it must cost about that.
    let n = 4000;
    let src = format!(
        "local t = {{}} for i = 1, {n} do t[i] = i end
         local function peel(...)
           if select('#', ...) == 0 then return 0 end
           return peel(select(2, ...))
         end
         return peel(table.unpack(t))"
    );
    let (total, _, outcome) = run(&src, 1_000_000_000);
    outcome.unwrap();
    let copies = (n * n / 2) as i64;
    assert!(
        total >= 2 * copies / lunette::vm::executor::VALUES_PER_UNIT as i64,
        "only {total} units for {copies} x 3 copies"
    );
}

#[test]
fn vararg_expansion_respects_the_stack_limit() {
    // PUC: "stack overflow" when `...` would take the stack past 1,000,000 slots.
    let src = "local t = {} for i = 1, 600000 do t[i] = i end
               local function f(...) local a, b = ..., ... return select('#', a, ...) end
               local function g(...) return f(..., ...) end
               return g(table.unpack(t))";
    let (_, _, outcome) = run(src, 1_000_000_000);
    let e = outcome.unwrap_err();
    assert!(e.contains("stack overflow"), "{e}");
}

#[test]
fn table_concat_pauses_and_charges_per_item() {
    let src = "local t = {} for i = 1, 200000 do t[i] = i % 2 == 0 and 'ab' or 7 end
               local s = table.concat(t, ',')
               assert(#s == 100000 * 2 + 100000 + 199999, #s)";
    let (total, worst, outcome) = run(src, 10_000);
    outcome.unwrap();
    assert!(total >= 200_000, "{total}");
    assert!(worst <= 10_000, "a step overran by {worst}");
    // The same result and the same fuel whatever the step size.
    let (total1, _, outcome) = run(src, 777);
    outcome.unwrap();
    assert_eq!(total1 - total, 0, "fuel depends on the step size");
}

#[test]
fn big_sorts_pause() {
    let src = "local t, x = {}, 1
               for i = 1, 50000 do x = (x * 1103515245 + 12345) % 2147483648 t[i] = x end
               table.sort(t)
               for i = 2, #t do assert(t[i - 1] <= t[i]) end";
    let (_, worst, outcome) = run(src, 10_000);
    outcome.unwrap();
    assert!(worst <= 10_000, "a step overran by {worst}");
}

#[test]
fn sorting_long_strings_is_charged_by_the_bytes_compared() {
    // 64 strings of 64 KiB that differ only in their last bytes: every comparison scans the
    // whole common prefix (~256 units each at 256 bytes a unit), and a sort makes hundreds.
    let setup = "local p = ('x'):rep(65536) local t = {} \
                 for i = 1, 64 do t[i] = p .. string.format('%03d', (i * 37) % 64) end";
    let (base, _, r) = run(setup, 10_000);
    r.unwrap();
    let (sorted, worst, r) = run(
        &format!("{setup} table.sort(t) for i = 2, 64 do assert(t[i - 1] < t[i]) end"),
        10_000,
    );
    r.unwrap();
    // At least the comparisons' scans: 64 * log2(64) = 384 comparisons of 256 units.
    assert!(sorted - base > 384 * 256, "{base} -> {sorted}");
    // The sort pauses after a slice of 8192 charged units (plus the comparison under way).
    assert!(worst < 9_000, "a step overran by {worst}");
    // `math.max` compares the same way.
    let (max, _, r) = run(
        &format!("{setup} assert(math.max(table.unpack(t)))"),
        10_000,
    );
    r.unwrap();
    assert!(max - base > 63 * 256, "{base} -> {max}");
}

#[test]
fn tracebacks_charge_the_global_names_they_look_at() {
    // A traceback names functions by their global names: it looks at up to 4,096 entries of
    // the loaded modules, and that work is charged (a unit per 4 entries), so tracebacks over
    // a big `_G` cost in proportion (a traceback per error of an error-heavy mod used to cost
    // ~6 units for hundreds of map insertions).
    let tracebacks = "local n = 0 for i = 1, 100 do n = n + #debug.traceback('x') end return n";
    let globals = "for i = 1, 3000 do _G['f' .. i] = function() end end";
    let (base, _, outcome) = run(tracebacks, 1_000_000_000);
    outcome.unwrap();
    let (setup, _, outcome) = run(globals, 1_000_000_000);
    outcome.unwrap();
    let (both, _, outcome) = run(&format!("{globals} {tracebacks}"), 1_000_000_000);
    outcome.unwrap();
    let names = both - setup - base;
    assert!(
        names >= 100 * 3000 / 5,
        "100 tracebacks over 3,000 more globals cost only {names} more units"
    );
}

/// Calls of Rust functions from Lua (the interpreter puts their results in place itself when
/// nothing else happens: `executor::call_from_lua`): every count of results wanted (none,
/// fewer, more than returned, all of them, in tail position) gives PUC's values, and the
/// fuel charged is the same at every step size, with a pinned total (the general path's
/// charges: one unit for the call, the results moved by `VALUES_PER_UNIT`).
#[test]
fn rust_function_calls_charge_the_same_at_every_step_size() {
    let src = "local t = {} for i = 1, 40 do t[i] = i end
               local unpack, select, rawlen = table.unpack, select, rawlen
               local function tail(...) return select(2, ...) end
               local s = 0
               for i = 1, 50 do
                 rawlen(t)
                 local a = rawlen(t)
                 local b, c, d = select(2, 'x', i)
                 s = s + a + b + (c == nil and 1 or 0) + (d == nil and 1 or 0)
                 s = s + select('#', unpack(t))
                 local n = select('#', tail(unpack(t)))
                 local x, y = tail(1, 2, 3)
                 s = s + n + x + y
                 s = s + #{unpack(t)} + math.max(unpack(t))
               end
               assert(s == 11575, s)";
    let (total, _, outcome) = run(src, 1);
    outcome.unwrap();
    for budget in [7, 10_000, 1_000_000_000] {
        let (t, _, outcome) = run(src, budget);
        outcome.unwrap();
        assert_eq!(t, total, "total fuel with steps of {budget}");
    }
    // What the general path (`call_function_ex`, `apply_action`, `post_return`) charged.
    assert_eq!(total, 8553);
}

#[test]
fn a_memory_refusal_costs_a_step_of_fuel() {
    // (40 MiB kept under the sandbox's 64 MiB: each 30 MiB request is refused after a full
    // collection.) Each refusal comes after a full collection (work in proportion to the
    // heap): a script
    // that catches `not enough memory` and asks again must pay for each one, or a loop of
    // them would run collection after collection for a few units each.
    let asks = |n: usize| {
        format!(
            "local keep = {{}} for i = 1, 40 do keep[i] = string.rep('k', 2^20 + i) end
             local refused = 0
             for i = 1, {n} do
               local ok, e = pcall(string.rep, 'x', 30 * 2^20 + i)
               if not ok and e == 'not enough memory' then refused = refused + 1 end
             end
             assert(refused == {n}, refused)"
        )
    };
    let (one, _, outcome) = run(&asks(1), 1_000_000_000);
    outcome.unwrap();
    let (five, _, outcome) = run(&asks(5), 1_000_000_000);
    outcome.unwrap();
    let per_refusal = (five - one) / 4;
    assert!(
        per_refusal >= lunette::vm::executor::MEMORY_REFUSAL_FUEL,
        "{per_refusal} units per refusal"
    );
    assert!(
        per_refusal < lunette::vm::executor::MEMORY_REFUSAL_FUEL + 100,
        "{per_refusal} units per refusal"
    );
}

/// Compiling is charged by the compiler's work, not only by the source's bytes: a name used
/// through 150 nested functions makes an upvalue in each (`lunette_compiler::UPVALUE_WORK`
/// apiece), which cost ~800 ns a source byte to compile when `load` charged a unit a byte.
/// The charge is the same at every step size and with or without the compile helper
/// thread (it is a function of the source), and each step overruns its budget by at most a
/// slice of `load`'s payments.
#[test]
fn compiling_deeply_nested_closures_is_charged_by_the_upvalues_made() {
    let depth = 150;
    let names = 100;
    let chunk = |nested: bool| {
        let mut p = Vec::new();
        for i in 1..=names {
            p.push(format!("local u{i} = {i}"));
        }
        for _ in 0..depth {
            p.push(
                if nested {
                    "local function f()"
                } else {
                    "fx = 1;;;;;;;;;;;;"
                }
                .into(),
            );
        }
        for i in 1..=names {
            p.push(format!("x = u{i}"));
        }
        for _ in 0..depth {
            p.push(if nested { "end" } else { ";;;" }.into());
        }
        p.join("\n")
    };
    let (nested, flat) = (chunk(true), chunk(false));
    assert_eq!(nested.len(), flat.len());
    let script = |src: &str| format!("assert(load({src:?}))");
    let (flat_fuel, _, outcome) = run(&script(&flat), 1_000_000_000);
    outcome.unwrap();
    let upvalues = (depth * names) as i64;
    let mut totals = Vec::new();
    for (budget, helper_threads) in [
        (1_000, true),
        (7_777, true),
        (1_000_000_000, true),
        (1_000, false),
    ] {
        let (total, worst, outcome) = run_with(&script(&nested), budget, helper_threads);
        outcome.unwrap();
        assert!(worst <= 2_048 + 1_000, "overran by {worst} at {budget}");
        totals.push(total);
    }
    assert!(totals.iter().all(|&t| t == totals[0]), "{totals:?}");
    let extra = totals[0] - flat_fuel;
    assert!(
        extra >= upvalues * lunette_compiler::UPVALUE_WORK as i64,
        "{extra} units beyond the flat chunk's {flat_fuel} for {upvalues} upvalues"
    );
}

/// `utf8.len` is charged by the bytes it decodes before it decodes them, in pieces a step
/// boundary can fall between, whether it ends in a count or at an invalid byte (which was not
/// charged at all: a 900 KB scan for nothing, as often as a script liked).
#[test]
fn utf8_len_is_charged_by_the_bytes_it_decodes() {
    let src = r#"
        local long = ("\xe2\x82\xac"):rep(300000)
        local bad = long .. "\xff"
        for _ = 1, 10 do assert(utf8.len(bad) == nil) end
        assert(utf8.len(long) == 300000)
    "#;
    let (total, worst, outcome) = run(src, 10_000);
    outcome.unwrap();
    assert!(
        total >= 11 * 900_000 / 16,
        "{total} units for 11 scans of 900 KB"
    );
    assert!(worst <= 4_200, "a step overran by {worst}");
}

#[test]
fn making_a_coroutine_is_charged_for_its_buffers() {
    // The same loop making 1,000 coroutines (create or wrap) and one passing 1,000
    // functions to a Rust function that makes nothing (`math.type`): the difference is what
    // the new coroutines cost beyond the calls, 32 units each (their buffers, as a string's
    // bytes).
    let cost = |make: &str| {
        let src = format!(
            "local f, make = function() end, {make}
             for i = 1, 1000 do local c = make(f) end"
        );
        let (total, _, outcome) = run(&src, 1_000_000_000);
        outcome.unwrap();
        total
    };
    let plain = cost("math.type");
    assert_eq!(cost("coroutine.create") - plain, 32 * 1000);
    assert_eq!(cost("coroutine.wrap") - plain, 32 * 1000);
}
