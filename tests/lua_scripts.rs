//! Runs every `tests/lua/*.lua` program and compares its output with the checked-in
//! `.out` file, produced by PUC-Rio Lua 5.4 (see tests/lua/README.md).

use std::path::Path;
use std::rc::Rc;

use lunette::{CaptureHost, Lua};

/// Runs a script like `lua5.4 name.lua 2>&1` would: stdout, then an uncaught error.
fn run_script(path: &Path) -> Vec<u8> {
    let source = std::fs::read(path).unwrap();
    // A sandbox-like host (no files, no OS, traceback-only debug) that lets scripts request
    // full collections, so weak tables and finalizers can be compared with PUC, and that
    // accepts binary chunks (`string.dump`). A script
    // whose first line is `-- grants: debug` also gets the full debug library.
    let debug = source.starts_with(b"-- grants: debug\n");
    let host = CaptureHost {
        grants: lunette::Grants {
            full_collections: true,
            binary_chunks: true,
            debug,
            ..lunette::Grants::default()
        },
        ..CaptureHost::default()
    };
    let mut lua = Lua::with_host(Rc::new(host.clone()));
    let name = path.file_name().unwrap().to_string_lossy();
    let result = lua.execute(&source, &format!("@{name}"));
    let mut out = host.take_stdout();
    if let Err(e) = result {
        out.extend_from_slice(format!("lua5.4: {}\n{}\n", e.message, e.traceback).as_bytes());
    }
    out
}

#[test]
fn lua_scripts_match_puc_output() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lua");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "lua"))
        .collect();
    names.sort();
    assert!(
        names.len() >= 10,
        "expected the Lua test corpus in {}",
        dir.display()
    );
    let mut failures = Vec::new();
    for path in &names {
        let expected = std::fs::read(path.with_extension("out")).unwrap();
        let got = run_script(path);
        if got != expected {
            let exp = String::from_utf8_lossy(&expected);
            let got_s = String::from_utf8_lossy(&got);
            let first_diff = exp
                .lines()
                .zip(got_s.lines())
                .enumerate()
                .find(|(_, (a, b))| a != b)
                .map(|(i, (a, b))| format!("line {}:\n  expected: {a}\n  got:      {b}", i + 1))
                .unwrap_or_else(|| {
                    format!(
                        "output length differs: expected {} lines, got {}",
                        exp.lines().count(),
                        got_s.lines().count()
                    )
                });
            failures.push(format!(
                "{}: {first_diff}",
                path.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} scripts differ:\n{}",
        failures.len(),
        names.len(),
        failures.join("\n")
    );
}
