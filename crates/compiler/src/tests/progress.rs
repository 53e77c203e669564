//! `compile_with_progress`: the position it reports, and that reporting changes nothing;
//! `compile_named`: the name shared, not copied.

use std::sync::atomic::Ordering;
use std::sync::Arc;

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
        let progress = crate::CompileProgress::default();
        let with = crate::compile_with_progress(src.as_bytes(), "=p", usize::MAX, &progress)
            .expect("compiles");
        let reported = progress.reached.load(Ordering::Acquire);
        assert_eq!(
            progress.extra_work.load(Ordering::Relaxed),
            0,
            "no upvalues made"
        );
        // The position when the lexer last passed a multiple of the grain, as parsing
        // reports it (the verification reports the rest).
        let last_grain = crate::parse_progress(src.len() / PROGRESS_GRAIN * PROGRESS_GRAIN);
        assert!(
            (last_grain..=crate::parse_progress(src.len())).contains(&reported)
                && (src.len() >= PROGRESS_GRAIN) == (reported > 0),
            "n = {n}: reported {reported} of {}",
            src.len()
        );
        // The verification takes it to the source's length.
        crate::verify_with_progress(&with, &progress, src.len()).expect("verifies");
        assert_eq!(
            progress.reached.load(Ordering::Acquire),
            src.len(),
            "n = {n}"
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

/// `compile_named` stores the caller's name in every prototype without copying it (a chunk
/// loaded from a string is named by the whole string), except a name with a NUL, which
/// ends the source name there (a copy of the part before it).
#[test]
fn a_named_chunk_shares_its_name() {
    let name: Arc<str> = Arc::from("local x = 1 return function() return x end");
    let p = crate::compile_named(name.as_bytes(), &name, usize::MAX, None).unwrap();
    assert!(Arc::ptr_eq(&p.source, &name));
    assert!(
        Arc::ptr_eq(&p.prototypes[0].source, &name),
        "nested prototypes too"
    );
    let with_nul: Arc<str> = Arc::from("=abc\0def");
    let p = crate::compile_named(b"return 1", &with_nul, usize::MAX, None).unwrap();
    assert_eq!(&*p.source, "=abc");
}

/// Upvalues made through nested functions count as work beyond the source's bytes: exactly
/// `UPVALUE_WORK` each, whether the compilation succeeds or fails later, and the progress
/// reported never passes the source's length plus that work.
#[test]
fn upvalues_count_as_extra_work() {
    let nested = |depth: usize, tail: &str| {
        let mut s = String::from("local a, b = 1, 2\n");
        for _ in 0..depth {
            s.push_str("local function f()\n");
        }
        s.push_str("return a + b\n");
        for _ in 0..depth {
            s.push_str("end\n");
        }
        s.push_str(tail);
        s
    };
    for (depth, tail, ok) in [(1, "", true), (40, "", true), (40, "x = = 1", false)] {
        let src = nested(depth, tail);
        let progress = crate::CompileProgress::default();
        let r = crate::compile_with_progress(src.as_bytes(), "=p", usize::MAX, &progress);
        assert_eq!(r.is_ok(), ok);
        // `a` and `b` through `depth` functions.
        let extra = progress.extra_work.load(Ordering::Relaxed);
        assert_eq!(extra, 2 * depth * crate::UPVALUE_WORK, "depth {depth}");
        if let Ok(p) = r {
            crate::verify_with_progress(&p, &progress, src.len()).expect("verifies");
            assert_eq!(progress.reached.load(Ordering::Acquire), src.len() + extra);
        }
        assert!(progress.reached.load(Ordering::Acquire) <= src.len() + extra);
    }
}
