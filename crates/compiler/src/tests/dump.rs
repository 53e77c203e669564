//! Binary chunks: round trips over the test programs (with and without debug information),
//! and decoding of damaged or hostile bytes.

use std::sync::Arc;

use crate::dump::{dump, undump, undump_with_limit, FORMAT_VERSION, MAX_NESTING};
use crate::proto::Prototype;

fn programs() -> Vec<(String, Arc<Prototype>)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests");
    let mut out = Vec::new();
    for dir in ["lua", "hostile"] {
        let mut files: Vec<_> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "lua"))
            .collect();
        files.sort();
        for path in files {
            let src = std::fs::read(&path).unwrap();
            let name = format!("@{}", path.file_name().unwrap().to_string_lossy());
            if let Ok(p) = crate::compile(crate::skip_shebang(&src), &name) {
                out.push((name, p));
            }
        }
    }
    for src in super::corpus::PROGRAMS {
        out.push((
            format!("={src}"),
            crate::compile(src.as_bytes(), src).unwrap(),
        ));
    }
    assert!(out.len() > 100);
    out
}

/// `p` without its debug information, as a stripped chunk decodes.
fn stripped(p: &Prototype) -> Prototype {
    let mut q = p.clone();
    q.source = "=?".into();
    q.short_source = "?".into();
    q.lines.clear();
    q.local_vars.clear();
    for u in q.upvalues.iter_mut() {
        u.name = Vec::new().into();
    }
    q.prototypes = p.prototypes.iter().map(|c| Arc::new(stripped(c))).collect();
    q
}

#[test]
fn round_trips() {
    for (name, p) in programs() {
        let bytes = dump(&p, false);
        assert!(bytes.starts_with(b"\x1bLua"));
        let back = undump(&bytes, &name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(*back, *p, "{name}");
        // Dumping again gives the same bytes.
        assert_eq!(dump(&back, false), bytes, "{name}");

        let s = dump(&p, true);
        assert!(s.len() <= bytes.len());
        let back = undump(&s, &name).unwrap_or_else(|e| panic!("{name} (stripped): {e}"));
        assert_eq!(*back, stripped(&p), "{name}");
    }
}

#[test]
fn every_truncation_is_refused() {
    let p = crate::compile(
        b"local t = {1, 2.5, 'x', true, nil} local function f(a, ...) return a, ... end \
          for i = 1, 3 do t[i] = f(i) end return t",
        "=t",
    )
    .unwrap();
    for strip in [false, true] {
        let bytes = dump(&p, strip);
        for n in 0..bytes.len() {
            let e = undump(&bytes[..n], "=t").unwrap_err();
            assert!(!e.out_of_memory);
            assert!(e.message.starts_with("t: "), "{}", e.message);
        }
        let mut more = bytes.clone();
        more.push(0);
        assert!(undump(&more, "=t")
            .unwrap_err()
            .message
            .contains("trailing"));
    }
}

#[test]
fn mutations_never_panic() {
    // Deterministic pseudo-random byte edits of real chunks: each decodes or is refused.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let progs = programs();
    let mut accepted = 0;
    for round in 0..3000 {
        let (_, p) = &progs[(rand() % progs.len() as u64) as usize];
        let mut bytes = dump(p, round % 2 == 0);
        for _ in 0..1 + rand() % 4 {
            let at = (rand() % bytes.len() as u64) as usize;
            match rand() % 3 {
                0 => bytes[at] = rand() as u8,
                1 => bytes[at] ^= 1 << (rand() % 8),
                _ => {
                    bytes.remove(at);
                }
            }
        }
        if let Ok(q) = undump(&bytes, "=m") {
            crate::verify::verify(&q).unwrap();
            accepted += 1;
        }
    }
    // Some edits (line numbers, names, constants) keep the chunk valid.
    assert!(accepted > 0);
}

#[test]
fn hostile_headers_and_counts() {
    let p = crate::compile(b"return 1", "=h").unwrap();
    let good = dump(&p, false);
    // PUC bytecode and other versions are named.
    let mut puc = b"\x1bLua\x54\x00\x19\x93\r\n\x1a\n".to_vec();
    puc.extend_from_slice(&[4, 8, 8]);
    assert!(undump(&puc, "=h").unwrap_err().message.contains("PUC"));
    assert!(undump(b"\x1bLua\x53", "=h")
        .unwrap_err()
        .message
        .contains("version"));
    assert_eq!(
        undump(b"\x1bLux", "=h").unwrap_err().message,
        "h: bad binary format (not a binary chunk)"
    );
    let mut v2 = good.clone();
    v2[14] = FORMAT_VERSION + 1;
    assert!(undump(&v2, "=h")
        .unwrap_err()
        .message
        .contains("format version"));
    // A huge count is refused before anything is allocated for it.
    let mut huge = good[..16].to_vec(); // header up to the flags
    huge.extend_from_slice(&[4, b'=', b'h', b'u', b'g']); // source
    huge.extend_from_slice(&[0, 0, 0, 1, 2]); // lines, params, vararg, stack
    huge.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]); // ncode
    let e = undump(&huge, "=h").unwrap_err();
    assert_eq!(e.message, "h: truncated precompiled chunk");
    // The memory limit counts what decoding allocates.
    let e = undump_with_limit(&good, "=h", 100).unwrap_err();
    assert!(e.out_of_memory);
    assert!(undump_with_limit(&good, "=h", 100_000).is_ok());
    // A chunk that is its own name is a "binary string", like PUC.
    let name = String::from_utf8_lossy(&good[..4]).into_owned();
    assert!(undump(&good[..20], &name)
        .unwrap_err()
        .message
        .starts_with("binary string: "));
}

#[test]
fn nesting_is_capped() {
    // Hand-made chain of functions nested one inside the other, deeper than the limit: each
    // record is `function() return end` with one child, the innermost without.
    let leaf = {
        let mut w = vec![0u8, 0, 0, 0, 2]; // lines, params, vararg, stack
        w.extend_from_slice(&[1, 67]); // code: Return0
        w.extend_from_slice(&[0, 0, 0, 0]); // constants, upvalues, lines, locals
        w
    };
    for depth in [MAX_NESTING - 1, MAX_NESTING + 5, 100_000] {
        let mut bytes = b"\x1bLua\x54lnt\x19\x93\r\n\x1a\n".to_vec();
        bytes.extend_from_slice(&[FORMAT_VERSION, 1]);
        for _ in 0..depth {
            bytes.extend_from_slice(&leaf);
            bytes.push(1); // one child
        }
        bytes.extend_from_slice(&leaf);
        bytes.push(0);
        let r = undump(&bytes, "=deep");
        if depth < MAX_NESTING {
            let p = r.unwrap();
            assert_eq!(p.prototypes.len(), 1);
        } else {
            assert!(r.unwrap_err().message.contains("nested too deeply"));
        }
    }
}

#[test]
fn refuses_what_the_verifier_refuses() {
    let mut p = (*crate::compile(b"local x = 1 return x", "=r").unwrap()).clone();
    p.code[0] = crate::Instruction::Move { a: 0, b: 200 };
    let e = undump(&dump(&p, false), "=r").unwrap_err();
    assert!(
        e.message
            .starts_with("r: bad binary format (verification failed: "),
        "{}",
        e.message
    );
}

/// `CHUNK=file cargo test -p lunette-compiler show_chunk -- --ignored --nocapture`: lists a
/// binary chunk (e.g. a fuzzer finding).
#[test]
#[ignore]
fn show_chunk() {
    let path = std::env::var("CHUNK").expect("CHUNK=file");
    let bytes = std::fs::read(path).unwrap();
    match undump(&bytes, "=chunk") {
        Ok(p) => println!("{}", crate::disassemble(&p)),
        Err(e) => println!("{e}"),
    }
}
