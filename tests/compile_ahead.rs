//! `load` of a big chunk compiles it on a helper thread while the script pays its fuel
//! (`Lua::set_helper_threads`). Nothing a script observes may depend on it: the
//! results, error messages and fuel are the same with it on and off, and a VM snapshotted,
//! rolled back or moved while `load` is paying finishes the same way (the helper's job is
//! not part of any snapshot: the chunk then compiles in place).

use std::rc::Rc;

use lunette::{CaptureHost, ExecResult, Executor, Fuel, Lua, StashedExecutor};

/// Builds a ~600 KB chunk (well over the 32 KiB threshold), loads it and prints what it
/// computes; then a chunk with a syntax error at its very end.
const SCRIPT: &str = r#"
local parts = {"local acc = 0\n"}
for i = 1, 20000 do
  parts[#parts + 1] = ("acc = (acc * 31 + %d) %% 1000003 -- padding padding\n"):format(i)
end
parts[#parts + 1] = "return acc, ..."
local src = table.concat(parts)
print(#src)
local f = assert(load(src, "=big"))
print(f("arg"))
local g, err = load(src .. " +", "=broken")
print(g, err)
"#;

/// A chunk of 12,000 distinct string constants, 4,000 number constants and 2,000 nested
/// functions: instantiated in pieces (`lunette_vm`'s `instantiation`: 1,024 string
/// constants a piece), a step boundary after each. It prints what the script's memory count
/// says right after the `load` (the pieces' objects are counted when the closure is made).
const STRINGS_SCRIPT: &str = r#"
local parts = {"local t, f = {}, {}\n"}
for i = 1, 12000 do
  parts[#parts + 1] = ("t[%d] = 'value number %d'\n"):format(i, i * 7)
end
for i = 1, 2000 do
  parts[#parts + 1] = ("f[%d] = function(x) return x * %d + %d end\n"):format(i, i + 1000, i + 3000)
end
parts[#parts + 1] = "return t, f"
local chunk = assert(load(table.concat(parts), "=strings"))
print(collectgarbage("count"))
local t, f = chunk()
local n, sum = 0, 0
for i, v in ipairs(t) do n = n + 1; sum = sum + #v + tonumber(v:match("%d+")) end
for i = 1, #f do sum = sum + f[i](i) end
print(n, sum, t[12000])
"#;

fn vm(background: bool) -> (Lua, Rc<CaptureHost>, StashedExecutor) {
    vm_running(background, SCRIPT)
}

fn vm_running(background: bool, script: &str) -> (Lua, Rc<CaptureHost>, StashedExecutor) {
    let host = Rc::new(CaptureHost::new());
    let mut lua = Lua::sandboxed(host.clone());
    lua.set_helper_threads(background);
    let f = lua.load(script.as_bytes(), "=t").expect("compiles");
    let exec = lua.enter(|ctx| {
        let f = ctx.fetch(&f).unwrap();
        ctx.stash_executor(Executor::start(ctx, f, &[]))
    });
    (lua, host, exec)
}

/// Steps `exec` to its end with `budget` fuel a step: (fuel used, steps).
fn finish(lua: &mut Lua, exec: &StashedExecutor, budget: i64) -> (i64, u64) {
    let (mut total, mut steps) = (0, 0);
    loop {
        let mut fuel = Fuel::new(budget);
        let done = lua.step(exec, &mut fuel).is_done();
        total += budget - fuel.remaining();
        steps += 1;
        if done {
            let ok = lua.enter(|ctx| {
                matches!(
                    ctx.fetch_executor(exec).unwrap().result(),
                    Some(ExecResult::Returned(_))
                )
            });
            assert!(ok, "the script failed");
            return (total, steps);
        }
        assert!(steps < 1_000_000, "did not finish");
    }
}

/// Runs `n` steps of 10,000 fuel: the fuel they used.
fn run_steps(lua: &mut Lua, exec: &StashedExecutor, n: u64) -> i64 {
    let mut used = 0;
    for _ in 0..n {
        let mut f = Fuel::new(10_000);
        lua.step(exec, &mut f);
        used += 10_000 - f.remaining();
    }
    used
}

fn output(host: &CaptureHost) -> String {
    String::from_utf8(host.take_stdout()).unwrap()
}

#[test]
fn results_and_fuel_do_not_depend_on_background_compilation() {
    let (mut a, host_a, exec_a) = vm(true);
    let (mut b, host_b, exec_b) = vm(false);
    assert!(a.helper_threads() && !b.helper_threads());
    let fuel_a = finish(&mut a, &exec_a, 10_000);
    let fuel_b = finish(&mut b, &exec_b, 10_000);
    assert_eq!(fuel_a, fuel_b);
    let out = output(&host_a);
    assert_eq!(out, output(&host_b));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    let len: usize = lines[0].parse().unwrap();
    assert!(len > 500_000, "{len}");
    // The chunk ran (its value is fixed by the script) and got its argument.
    assert!(lines[1].ends_with("\targ"), "{}", lines[1]);
    assert_eq!(
        lines[2],
        "nil\tbig:20002: unexpected symbol near <eof>".replace("big", "broken")
    );
    // One unit a byte (twice: the chunk is named by a short name, so once for the source),
    // paid in slices: the load takes many steps.
    assert!(fuel_a.0 > 2 * len as i64, "{fuel_a:?}");
    assert!(fuel_a.1 > 100, "{fuel_a:?}");
}

#[test]
fn a_load_paying_for_its_chunk_survives_rollback_and_restore() {
    let (mut straight, host, exec) = vm(true);
    let expected = finish(&mut straight, &exec, 10_000);
    let expected_out = output(&host);

    // Rolled back in the middle of paying (the helper's job was taken by the first pass,
    // so the second one compiles in place), then run to the end.
    let (mut lua, host, exec) = vm(true);
    for _ in 0..60 {
        lua.step(&exec, &mut Fuel::new(10_000));
    }
    lua.snap().unwrap();
    let mut steps_after_snap = 0;
    for _ in 0..30 {
        lua.step(&exec, &mut Fuel::new(10_000));
        steps_after_snap += 1;
    }
    lua.rollback(1).unwrap();
    let printed_before_snap = output(&host);
    let first_line = expected_out.lines().next().unwrap();
    assert!(printed_before_snap.starts_with(first_line));
    let rest = finish(&mut lua, &exec, 10_000);
    assert_eq!(rest.1 + 60, expected.1, "same steps as a straight run");
    assert_eq!(
        format!("{first_line}\n{}", output(&host)),
        expected_out,
        "the same output after the rollback"
    );
    assert!(steps_after_snap > 0);

    // Moved to a fresh VM in the middle of paying: the new VM has no job for it.
    let (mut lua, host, exec) = vm(true);
    for _ in 0..60 {
        lua.step(&exec, &mut Fuel::new(10_000));
    }
    let early = output(&host);
    let bytes = lua.snapshot().unwrap().to_bytes().unwrap();
    let (mut fresh, fresh_host, _) = vm(true);
    let snapshot = fresh.snapshot_from_bytes(&bytes).unwrap();
    fresh.restore(&snapshot).unwrap();
    let moved = fresh.restored_executor(exec.id()).expect("paused executor");
    let rest = finish(&mut fresh, &moved, 10_000);
    assert_eq!(rest.1 + 60, expected.1);
    assert_eq!(early + &output(&fresh_host), expected_out);
}

#[test]
fn a_chunk_instantiated_in_pieces_survives_restore_and_rollback_at_every_piece() {
    let (mut straight, host, exec) = vm_running(true, STRINGS_SCRIPT);
    // Steps that ended with fuel left before the end: the pieces' step boundaries.
    let (mut fuel, mut steps, mut pauses) = (0, 0u64, Vec::new());
    loop {
        let mut f = Fuel::new(10_000);
        let done = straight.step(&exec, &mut f).is_done();
        (fuel, steps) = (fuel + 10_000 - f.remaining(), steps + 1);
        if done {
            break;
        }
        if f.remaining() > 0 {
            pauses.push(steps);
        }
    }
    // The last pauses in a row are the pieces (12,000 strings, 1,024 a piece, and the rest
    // of the chunk's work); earlier ones are the memory limit's collections as the script
    // grows.
    const PIECES: usize = 12;
    let pieces = &pauses[pauses.len().max(PIECES) - PIECES..];
    assert!(
        pieces.len() == PIECES && pieces[PIECES - 1] == pieces[0] + PIECES as u64 - 1,
        "{pauses:?} of {steps}"
    );
    let expected = output(&host);
    let lines: Vec<&str> = expected.lines().collect();
    assert_eq!(lines.len(), 2, "{expected}");
    assert_eq!(lines[1], "12000\t5181924415\tvalue number 84000");
    let (mut quiet, quiet_host, quiet_exec) = vm_running(false, STRINGS_SCRIPT);
    assert_eq!(finish(&mut quiet, &quiet_exec, 10_000), (fuel, steps));
    assert_eq!(output(&quiet_host), expected);
    // Move the VM to a fresh one before each piece, and before and after them: the pieces
    // made are not in the snapshot, so the next step makes them again; the load still ends
    // after the same steps, with the same memory count.
    for at in pieces[0] - 2..=pieces[PIECES - 1] + 1 {
        let (mut lua, host, exec) = vm_running(true, STRINGS_SCRIPT);
        let used = run_steps(&mut lua, &exec, at);
        let bytes = lua.snapshot().unwrap().to_bytes().unwrap();
        let (mut fresh, fresh_host, _) = vm_running(true, STRINGS_SCRIPT);
        let snapshot = fresh.snapshot_from_bytes(&bytes).unwrap();
        fresh.restore(&snapshot).unwrap();
        let moved = fresh.restored_executor(exec.id()).expect("paused executor");
        let rest = finish(&mut fresh, &moved, 10_000);
        assert_eq!((used + rest.0, at + rest.1), (fuel, steps), "moved at {at}");
        assert_eq!(
            output(&host) + &output(&fresh_host),
            expected,
            "moved at {at}"
        );
    }
    // Rolled back to each piece (from three steps later, or from the end of the load):
    // the same.
    for at in pieces[0] - 1..=pieces[PIECES - 1] {
        for ahead in [3, 1 + pieces[PIECES - 1] - at] {
            let (mut lua, host, exec) = vm_running(true, STRINGS_SCRIPT);
            let used = run_steps(&mut lua, &exec, at);
            lua.snap().unwrap();
            run_steps(&mut lua, &exec, ahead);
            lua.rollback(1).unwrap();
            // (What the steps rolled back printed stays printed: the host's output is not
            // VM state. The script prints after the load, so the run after the rollback
            // prints it all again.)
            output(&host);
            let rest = finish(&mut lua, &exec, 10_000);
            assert_eq!(
                (used + rest.0, at + rest.1),
                (fuel, steps),
                "rolled back to {at}"
            );
            assert_eq!(output(&host), expected, "rolled back to {at}");
        }
    }
}

/// A `load` that runs out of memory between pieces of its chunk's instantiation (another
/// executor filled the memory meanwhile) fails with "not enough memory" and keeps nothing:
/// what its pieces made is dropped with it, so the VM's memory goes back to what it was.
#[test]
fn a_load_out_of_memory_between_pieces_keeps_nothing() {
    const LOADER: &str = r#"
local parts = {}
for i = 1, 40000 do parts[i] = ("x%d = 'constant string %d'"):format(i % 150, i) end
local ok, e = pcall(load, table.concat(parts, "\n"))
print(ok, e)
"#;
    const LIMIT: usize = 48 << 20;
    // Where the pieces are: the steps of the loader that end with fuel left, in a row,
    // before it ends.
    let pieces = {
        let host = Rc::new(CaptureHost::new());
        let mut lua = Lua::sandboxed(host.clone());
        lua.set_memory_limit(Some(LIMIT));
        let exec = start(&mut lua, LOADER);
        let (mut steps, mut pauses) = (0u64, Vec::new());
        loop {
            let mut f = Fuel::new(10_000);
            let done = lua.step(&exec, &mut f).is_done();
            steps += 1;
            if done {
                break;
            }
            if f.remaining() > 0 {
                pauses.push(steps);
            }
        }
        let out = output(&host);
        assert!(out.starts_with("true\tfunction: "), "{out}");
        pauses
    };
    assert!(pauses_in_a_row(&pieces) >= 20, "{pieces:?}");
    let first_piece = pieces[pieces.len() - pauses_in_a_row(&pieces)];

    let host = Rc::new(CaptureHost::new());
    let mut lua = Lua::sandboxed(host.clone());
    lua.set_memory_limit(Some(LIMIT));
    let before = lua.memory_used();
    let loader = start(&mut lua, LOADER);
    run_steps(&mut lua, &loader, first_piece + 1);
    // Another executor takes all but 256 KiB of what is left.
    let free = LIMIT - lua.memory_used() - (256 << 10);
    let filler = start(&mut lua, &format!("keep = string.rep('x', {free})"));
    finish(&mut lua, &filler, 10_000);
    finish(&mut lua, &loader, 10_000);
    assert_eq!(output(&host), "false\tnot enough memory\n");
    let cleaner = start(&mut lua, "keep = nil");
    finish(&mut lua, &cleaner, 10_000);
    lua.gc_collect();
    lua.gc_collect();
    let after = lua.memory_used();
    assert!(
        after < before + (512 << 10),
        "{before} bytes before the load, {after} after"
    );
}

fn start(lua: &mut Lua, script: &str) -> StashedExecutor {
    let f = lua.load(script.as_bytes(), "=t").expect("compiles");
    lua.enter(|ctx| {
        let f = ctx.fetch(&f).unwrap();
        ctx.stash_executor(Executor::start(ctx, f, &[]))
    })
}

/// How many of the last `pauses` (step numbers) follow each other.
fn pauses_in_a_row(pauses: &[u64]) -> usize {
    let mut n = pauses.len().min(1);
    while n < pauses.len() && pauses[pauses.len() - n - 1] + n as u64 == pauses[pauses.len() - 1] {
        n += 1;
    }
    n
}
