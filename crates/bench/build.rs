//! Records the compiler version and the resolved peer versions (from the workspace
//! `Cargo.lock`) so the report can say exactly what was measured.

use std::process::Command;

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=BENCH_RUSTC_VERSION={version}");

    let lock_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.lock");
    println!("cargo:rerun-if-changed={lock_path}");
    println!("cargo:rerun-if-changed=build.rs");
    let lock = std::fs::read_to_string(lock_path).unwrap_or_default();
    for (package, var) in [
        ("mlua", "BENCH_MLUA_VERSION"),
        ("lua-src", "BENCH_LUA_SRC_VERSION"),
        ("piccolo", "BENCH_PICCOLO_VERSION"),
        ("slew", "BENCH_SLEW_VERSION"),
    ] {
        println!(
            "cargo:rustc-env={var}={}",
            locked_version(&lock, package).unwrap_or("?")
        );
    }
}

/// The version of `package` in a `Cargo.lock` (the first one if several).
fn locked_version<'a>(lock: &'a str, package: &str) -> Option<&'a str> {
    let wanted = format!("name = \"{package}\"");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == wanted {
            let next = lines.next()?.trim();
            return next
                .strip_prefix("version = \"")
                .and_then(|v| v.strip_suffix('"'));
        }
    }
    None
}
