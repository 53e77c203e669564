mod checker;
mod corpus;
mod dump;
mod errors;
mod fuzz;
mod progress;
mod puc_diff;
mod shapes;
mod verify;

use crate::{compile, disassemble};

/// Disassembly of a chunk (panics on compile errors).
#[allow(dead_code)]
pub(crate) fn dis(src: &str) -> String {
    match compile(src.as_bytes(), "=test") {
        Ok(p) => disassemble(&p),
        Err(e) => panic!("compile error: {e}\n{src}"),
    }
}

/// Compile error message of a chunk (Display form), compiled with chunk name = source.
pub(crate) fn err(src: &str) -> String {
    match compile(src.as_bytes(), src) {
        Ok(_) => panic!("expected an error for {src:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
#[ignore]
fn show() {
    let src = std::env::var("LUA_SRC").unwrap_or_default();
    println!("{}", dis(&src));
}

/// Maximal nesting must fit in a 1 MiB thread stack even in debug builds (about 0.75 MiB is
/// needed for nested functions in debug, much less in release). `STACK_KB` / `CASE` env vars
/// allow measuring (a stack overflow aborts the test process).
#[test]
fn stack_headroom() {
    let cases: Vec<String> = vec![
        format!("x = {}1", "(".repeat(1000)),
        format!("x = {}", "{".repeat(1000)),
        "x = function() ".repeat(1000),
        "if x then ".repeat(1000),
        format!("x = {}", "{f(".repeat(1000)),
        format!("x = a{}", " .. a".repeat(1000)),
        format!("x = {}1", "- ".repeat(1000)),
        "for k, v in f do ".repeat(1000),
        "local function f() ".repeat(1000),
    ];
    let kb: usize = std::env::var("STACK_KB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1024);
    {
        let mut cases = cases.clone();
        if let Some(i) = std::env::var("CASE")
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
        {
            cases = vec![cases[i].clone()];
        }
        let r = std::thread::Builder::new()
            .stack_size(kb << 10)
            .spawn(move || {
                for c in &cases {
                    let _ = crate::compile(c.as_bytes(), "=t");
                }
            })
            .unwrap()
            .join();
        println!("{kb} KiB: {}", if r.is_ok() { "ok" } else { "overflow" });
    }
}

#[test]
#[ignore]
fn time_chains() {
    let cases = [
        ("add", format!("x = {}1", "1 + ".repeat(100_000))),
        ("dot", format!("x = a{}", ".b".repeat(100_000))),
        ("idx", format!("x = a{}", "[1]".repeat(50_000))),
        ("call", format!("x = f{}", "()".repeat(50_000))),
        ("meth", format!("x = a{}", ":m()".repeat(50_000))),
        ("and", format!("x = a {}", "and b ".repeat(50_000))),
        ("or", format!("x = a {}", "or b == c ".repeat(50_000))),
        ("stmts", "x = 1\n".repeat(100_000)),
        (
            "elseif",
            format!("if a then {} end", "elseif b then ".repeat(20_000)),
        ),
    ];
    for (name, src) in &cases {
        let t = std::time::Instant::now();
        let _ = crate::compile(src.as_bytes(), "=t");
        println!("{name}: {:?}", t.elapsed());
    }
}

#[test]
fn chunk_ids_match_puc() {
    let names = [
        format!("={}", "a".repeat(70)),
        format!("@{}{}", "b".repeat(50), "c".repeat(20)),
        "x=\n".to_string(),
        "d".repeat(44),
        "e".repeat(45),
        format!("={}", "f".repeat(59)),
        format!("@{}", "g".repeat(59)),
        format!("@{}", "h".repeat(60)),
    ];
    let expected = [
        format!("{}:1: unexpected symbol near <eof>", "a".repeat(59)),
        format!(
            "...{}{}:1: unexpected symbol near <eof>",
            "b".repeat(36),
            "c".repeat(20)
        ),
        "[string \"x=...\"]:1: unexpected symbol near <eof>".to_string(),
        format!(
            "[string \"{}\"]:1: unexpected symbol near <eof>",
            "d".repeat(44)
        ),
        format!(
            "[string \"{}...\"]:1: unexpected symbol near <eof>",
            "e".repeat(45)
        ),
        format!("{}:1: unexpected symbol near <eof>", "f".repeat(59)),
        format!("{}:1: unexpected symbol near <eof>", "g".repeat(59)),
        format!("...{}:1: unexpected symbol near <eof>", "h".repeat(56)),
    ];
    for (n, e) in names.iter().zip(&expected) {
        let err = compile(b"x=", n).unwrap_err();
        assert_eq!(&err.to_string(), e);
    }
}
