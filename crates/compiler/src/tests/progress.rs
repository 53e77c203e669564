//! `compile_with_progress`: the position it reports, and that reporting changes nothing.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::lexer::PROGRESS_GRAIN;

/// A chunk of about `n` bytes mixing tokens, long comments and long strings that cross
/// several progress grains in one token.
fn chunk(n: usize) -> String {
    let mut s = String::from("local t = {}\n");
    let mut i = 0;
    while s.len() < n {
        i += 1;
        match i % 3 {
            0 => s.push_str(&format!("t[{i}] = 'v{i}' .. {i}\n")),
            1 => s.push_str(&format!("--[==[{}]==]\n", "c]".repeat(3000))),
            _ => s.push_str(&format!("t.s{i} = [==[{}\n]]]=]]==]\n", "x".repeat(9000))),
        }
    }
    s.push_str("return t\n");
    s
}

#[test]
fn progress_ends_at_the_last_grain_read() {
    for n in [100, 5_000, 70_000, 300_000] {
        let src = chunk(n);
        let progress = AtomicUsize::new(0);
        let with = crate::compile_with_progress(src.as_bytes(), "=p", usize::MAX, &progress)
            .expect("compiles");
        let reported = progress.load(Ordering::Acquire);
        // The position when the lexer last passed a multiple of the grain.
        let last_grain = src.len() / PROGRESS_GRAIN * PROGRESS_GRAIN;
        assert!(
            (last_grain..=src.len()).contains(&reported)
                && (src.len() >= PROGRESS_GRAIN) == (reported > 0),
            "n = {n}: reported {reported} of {}",
            src.len()
        );
        let without = crate::compile(src.as_bytes(), "=p").expect("compiles");
        assert_eq!(
            crate::dump(&with, false),
            crate::dump(&without, false),
            "the same prototype with and without progress"
        );
    }
}

#[test]
fn long_tokens_read_in_runs_keep_their_text_and_lines() {
    let src = format!(
        "local a = [[{}]] --[[{}\n]] local b = [==[x]]y\r\nz]==] return a, b, debug",
        "q".repeat(10_000),
        "w]".repeat(5_000)
    );
    let p = crate::compile(src.as_bytes(), "=l").expect("compiles");
    let strings: Vec<Vec<u8>> = p
        .constants
        .iter()
        .filter_map(|c| match c {
            crate::Constant::String(s) => Some(s.to_vec()),
            _ => None,
        })
        .collect();
    assert!(strings.contains(&"q".repeat(10_000).into_bytes()));
    assert!(strings.contains(&b"x]]y\nz".to_vec()));
    // The `return` is on the third line (a `\r\n` counts once).
    assert_eq!(p.lines.last().copied(), Some(3));
}
