//! Binary chunks (`string.dump`, `load` of lunette's own format): lunette-specific
//! expectations (messages of damaged chunks, the host's `Chunk` API, fuel and memory
//! accounting). Behaviour shared with PUC is in `tests/lua/string_dump.lua`.

use std::rc::Rc;

use lunette::{CaptureHost, ChunkMode, Fuel, Grants, Lua};

fn lua() -> (Lua, CaptureHost) {
    let host = CaptureHost {
        grants: Grants {
            binary_chunks: true,
            ..Grants::default()
        },
        ..CaptureHost::default()
    };
    (Lua::with_host(Rc::new(host.clone())), host)
}

fn out(host: &CaptureHost) -> String {
    String::from_utf8(host.take_stdout()).unwrap()
}

#[test]
fn damaged_chunks_are_refused_with_puc_style_messages() {
    let (mut lua, host) = lua();
    lua.execute(
        br#"
        local d = string.dump(function(a, b) return a + b end)
        print(load(d:sub(1, 20)))
        print(load(d:sub(1, 20), "=short"))
        print(load(d .. "x", "@file.luac"))
        print(load("\27Lua\84\0\25\147\r\n\26\n\4\8\8", "=puc"))
        print(load("\27Lua\83", "=old"))
        -- A jump out of the code passes the decoder and fails verification.
        local f = load(string.dump(function() while true do end end), "=ok")
        print(type(f))
        "#,
        "=damaged",
    )
    .unwrap();
    assert_eq!(
        out(&host),
        "nil\tbinary string: truncated precompiled chunk\n\
         nil\tshort: truncated precompiled chunk\n\
         nil\tfile.luac: bad binary format (trailing bytes)\n\
         nil\tpuc: bad binary format (not a lunette chunk (PUC Lua bytecode?))\n\
         nil\told: bad binary format (version mismatch)\n\
         function\n"
    );
}

#[test]
fn host_chunks_accept_binary_by_mode() {
    let (mut lua, _) = lua();
    let bytes: Vec<u8> = lua
        .chunk("return string.dump(function(x) return x * 2 end)")
        .eval::<lunette::Bytes>()
        .map(|b| b.0)
        .unwrap();
    let err = lua.chunk(&bytes).exec().unwrap_err();
    assert_eq!(err.message, "attempt to load a binary chunk (mode is 't')");
    let r: i64 = lua.chunk(&bytes).mode(ChunkMode::Binary).call(21).unwrap();
    assert_eq!(r, 42);
    let r: i64 = lua.chunk(&bytes).mode(ChunkMode::Any).call(5).unwrap();
    assert_eq!(r, 10);
    let err = lua
        .chunk(&bytes[..bytes.len() - 1])
        .name("=peer")
        .mode(ChunkMode::Any)
        .exec()
        .unwrap_err();
    assert_eq!(err.message, "peer: truncated precompiled chunk");
}

#[test]
fn loading_a_big_binary_chunk_is_paid_in_slices() {
    // A chunk of ~1 MB: `load` pays one unit a byte before decoding, in slices at step
    // boundaries, so a step with a small budget overruns it by at most a slice.
    let (mut lua, host) = lua();
    let src = br#"
        local parts = {}
        for i = 1, 20000 do parts[#parts + 1] = "x" .. i .. " = " .. i end
        local big = load(table.concat(parts, "\n"))
        local d = string.dump(big)
        print(#d > 200000)
        local f = load(d, "=big", "b")
        f()
        print(x20000)
    "#;
    let exec = lua.chunk(src).start(()).unwrap();
    let mut worst = 0i64;
    loop {
        let mut fuel = Fuel::new(10_000);
        let status = lua.step(&exec, &mut fuel);
        worst = worst.max(-fuel.remaining());
        if status.is_done() {
            break;
        }
    }
    assert_eq!(out(&host), "true\n20000\n");
    assert!(worst < 20_000, "a step overran its budget by {worst} units");
}

/// `CHUNK=file cargo test --test binary_chunks replay_chunk -- --ignored --nocapture`: runs a
/// binary chunk (a fuzzer finding) in small steps, printing memory as it goes.
#[test]
#[ignore]
fn replay_chunk() {
    let bytes = std::fs::read(std::env::var("CHUNK").expect("CHUNK=file")).unwrap();
    let host = CaptureHost::new();
    let mut lua = Lua::sandboxed(Rc::new(host.clone()));
    lua.set_memory_limit(Some(16 << 20));
    let proto = lunette::compiler::undump(&bytes, "=replay").unwrap();
    let exec = lua.enter(|ctx| {
        let f = ctx.load_prototype(&proto, None).unwrap();
        ctx.stash_executor(lunette::Executor::start(
            ctx,
            lunette::Value::Function(f),
            &[],
        ))
    });
    let mut last = 0;
    let mut worst_overrun = 0;
    for step in 0..2_000_000 {
        let mut fuel = Fuel::new(1);
        let status = lua.step(&exec, &mut fuel);
        if -fuel.remaining() > worst_overrun {
            worst_overrun = -fuel.remaining();
            println!("step {step}: overran by {worst_overrun}");
        }
        let peak = lua.memory_peak();
        if peak > last + (1 << 20) {
            let out = String::from_utf8_lossy(&host.take_stdout()).into_owned();
            println!(
                "step {step}: peak {peak} after output {:?}",
                &out[out.len().saturating_sub(200)..]
            );
            last = peak;
        }
        if status.is_done() {
            break;
        }
    }
}

/// A prototype built by hand (public fields) reaches the interpreter only through
/// `Context::load_prototype`, which runs the bytecode verifier: invalid code is refused
/// there, before any closure of it exists (the interpreter's unchecked register, constant,
/// upvalue and code accesses rely on it, see `gc_unsafe::unchecked`).
#[test]
fn hand_built_invalid_prototypes_never_reach_the_interpreter() {
    use lunette::compiler::{Constant, Instruction};
    let good = lunette::compiler::compile(b"local a, b = 1, 'x' return a", "=hand").unwrap();
    let mss = good.max_stack_size;
    type Damage = Box<dyn Fn(&mut lunette::compiler::Prototype)>;
    let broken: Vec<(&str, Damage)> = vec![
        (
            "register outside the window",
            Box::new(move |p| p.code[0] = Instruction::Move { a: mss + 10, b: 0 }),
        ),
        (
            "constant out of range",
            Box::new(|p| p.code[0] = Instruction::LoadK { a: 0, k: 1000 }),
        ),
        (
            "upvalue out of range",
            Box::new(|p| p.code[0] = Instruction::GetUpval { a: 0, up: 9 }),
        ),
        (
            "jump outside the code",
            Box::new(|p| p.code[0] = Instruction::Jmp { off: 1000 }),
        ),
        (
            "falls off the end",
            Box::new(|p| {
                p.code.pop();
                p.lines.pop();
            }),
        ),
        (
            "field key not a string",
            Box::new(|p| {
                p.constants.push(Constant::Integer(1));
                let k = (p.constants.len() - 1) as u32;
                p.code[0] = Instruction::GetField { a: 0, b: 0, k };
            }),
        ),
    ];
    let (lua, _host) = lua();
    for (what, damage) in broken {
        let mut p = (*good).clone();
        damage(&mut p);
        let p = std::sync::Arc::new(p);
        assert!(lunette::compiler::verify(&p).is_err(), "{what}: verifies");
        lua.enter(|ctx| {
            assert!(ctx.load_prototype(&p, None).is_err(), "{what}: loaded");
        });
    }
    // The untouched prototype loads and runs.
    lua.enter(|ctx| {
        assert!(ctx.load_prototype(&good, None).is_ok());
    });
}
