//! Debug hooks (`debug.sethook`) under the host's machinery: the `tests/lua/hooks_*.lua`
//! programs print exactly PUC 5.4.8's output (their `.out` files) whatever the step size,
//! with the same total fuel, and across snapshots and rollbacks.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use lunette::{CaptureHost, Fuel, Lua, StepStatus};

fn host() -> CaptureHost {
    CaptureHost {
        grants: lunette::Grants {
            debug: true,
            ..lunette::Grants::default()
        },
        ..CaptureHost::default()
    }
}

fn hook_scripts() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lua");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "lua")
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("hooks_"))
        })
        .collect();
    names.sort();
    assert!(names.len() >= 5, "the hooks_*.lua scripts");
    names
}

fn expected(path: &Path) -> String {
    String::from_utf8(std::fs::read(path.with_extension("out")).unwrap()).unwrap()
}

/// Runs `path` in steps of `fuel`: its output and the total fuel it took.
fn run_in_steps(path: &Path, fuel: i64) -> (String, i64) {
    let source = std::fs::read(path).unwrap();
    let host = host();
    let mut lua = Lua::with_host(Rc::new(host.clone()));
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let exec = lua
        .chunk(&source)
        .name(&format!("@{name}"))
        .start(())
        .unwrap();
    let mut used = 0;
    loop {
        let mut f = Fuel::new(fuel);
        let s = lua.step(&exec, &mut f);
        used += fuel - f.remaining();
        if s.is_done() {
            assert_eq!(s, StepStatus::Returned, "{name}");
            break;
        }
    }
    (String::from_utf8(host.take_stdout()).unwrap(), used)
}

#[test]
fn hooked_scripts_print_the_same_whatever_the_step_size() {
    for path in hook_scripts() {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let want = expected(&path);
        let mut totals = Vec::new();
        for fuel in [1, 7, 10_000] {
            let (out, used) = run_in_steps(&path, fuel);
            assert_eq!(out, want, "{name} at fuel {fuel}");
            totals.push(used);
        }
        assert!(
            totals.windows(2).all(|w| w[0] == w[1]),
            "{name}: total fuel depends on the step size: {totals:?}"
        );
    }
}

/// A game-like loop: snap before every step, and every few steps roll back three and
/// simulate again (the output of the undone steps is dropped, as a game drops what it
/// drew). The output must be the straight run's.
#[test]
fn hooked_scripts_survive_rollbacks() {
    for path in hook_scripts() {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let source = std::fs::read(&path).unwrap();
        let host = host();
        let mut lua = Lua::with_host(Rc::new(host.clone()));
        let exec = lua
            .chunk(&source)
            .name(&format!("@{name}"))
            .start(())
            .unwrap();
        let mut out: Vec<u8> = Vec::new();
        // The output's length at each snapshot in the ring, oldest first.
        let mut marks: Vec<usize> = Vec::new();
        let mut rollbacks = 0;
        for i in 0.. {
            assert!(i < 1_000_000, "{name}: does not finish");
            if i % 9 == 8 && marks.len() >= 3 {
                lua.rollback(3).unwrap();
                marks.truncate(marks.len() - 2);
                out.truncate(*marks.last().unwrap());
                rollbacks += 1;
            } else {
                lua.snap().unwrap();
                marks.push(out.len());
                if marks.len() > lunette::DEFAULT_MAX_SNAPSHOTS {
                    marks.remove(0);
                }
            }
            let s = lua.step(&exec, &mut Fuel::new(25));
            out.extend(host.take_stdout());
            if s.is_done() {
                assert_eq!(s, StepStatus::Returned, "{name}");
                break;
            }
        }
        assert!(rollbacks >= 2, "{name}: only {rollbacks} rollbacks");
        assert_eq!(String::from_utf8(out).unwrap(), expected(&path), "{name}");
    }
}
