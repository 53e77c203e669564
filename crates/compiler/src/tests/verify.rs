//! The bytecode verifier: everything the compiler makes verifies; each kind of corruption
//! is refused.

use std::path::Path;
use std::sync::Arc;

use crate::opcode::Instruction::{self, *};
use crate::proto::{Constant, LocalVar, Prototype, UpvalueDesc};
use crate::verify::verify;

fn compile(src: &str) -> Prototype {
    let p = crate::compile(src.as_bytes(), "=v").unwrap_or_else(|e| panic!("{e}"));
    verify(&p).unwrap_or_else(|e| panic!("{e}\n{src}"));
    (*p).clone()
}

/// Applies `corrupt` to the compiled `src` and expects a refusal mentioning `what`.
fn refused(src: &str, what: &str, corrupt: impl FnOnce(&mut Prototype)) {
    let mut p = compile(src);
    corrupt(&mut p);
    match verify(&p) {
        Ok(()) => panic!("corrupted {src:?} verified (expected {what:?})"),
        Err(e) => assert!(
            e.to_string().contains(what),
            "expected {what:?}, got {e} for {src:?}"
        ),
    }
}

fn find(p: &Prototype, pred: impl Fn(&Instruction) -> bool) -> usize {
    p.code
        .iter()
        .position(pred)
        .unwrap_or_else(|| panic!("instruction not found in\n{}", crate::disassemble(p)))
}

/// Applies `f` to the first child prototype.
fn child(p: &mut Prototype, f: impl FnOnce(&mut Prototype)) {
    let mut c = (*p.prototypes[0]).clone();
    f(&mut c);
    p.prototypes[0] = Arc::new(c);
}

fn corpus_files() -> Vec<std::path::PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests");
    let mut files = Vec::new();
    for dir in ["lua", "hostile"] {
        for e in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = e.unwrap().path();
            if path.extension().is_some_and(|x| x == "lua") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_test_program_verifies() {
    let files = corpus_files();
    assert!(files.len() > 50, "test programs not found");
    let mut compiled = 0;
    for path in files {
        let src = std::fs::read(&path).unwrap();
        let name = format!("@{}", path.file_name().unwrap().to_string_lossy());
        let Ok(p) = crate::compile(crate::skip_shebang(&src), &name) else {
            continue; // scripts testing syntax errors
        };
        compiled += 1;
        if let Err(e) = verify(&p) {
            panic!("{}: {e}", path.display());
        }
    }
    assert!(compiled > 50);
}

#[test]
fn refuses_bad_headers() {
    refused("local a, b = 1, 2", "above", |p| p.max_stack_size = 255);
    refused("local function f(a, b) end", "parameters", |p| {
        child(p, |c| c.num_params = c.max_stack_size + 1)
    });
    refused("return", "empty code", |p| {
        p.code.clear();
        p.lines.clear()
    });
    refused("local x = 1 return x", "line entries", |p| {
        p.lines.pop();
    });
    refused("local x = 1 return x", "local variable range", |p| {
        p.local_vars[0].end_pc = p.code.len() as u32 + 1
    });
    refused("local x = 1 return x", "local variable range", |p| {
        p.local_vars[0].start_pc = p.local_vars[0].end_pc + 1
    });
    refused("return", "upvalues", |p| {
        let u = p.upvalues[0].clone();
        p.upvalues = vec![u; 256]
    });
    // A stripped prototype (no line information) verifies.
    let mut p = compile("local x = 1 return x");
    p.lines.clear();
    p.local_vars.clear();
    verify(&p).unwrap();
}

#[test]
fn refuses_bad_child_upvalues() {
    let src = "local x = 1 local function f() return x end";
    refused(src, "captures register", |p| {
        let mss = p.max_stack_size;
        child(p, |c| c.upvalues[0].index = mss)
    });
    refused(
        "local function f() return y end",
        "refers to upvalue",
        |p| {
            child(p, |c| {
                c.upvalues[0] = UpvalueDesc {
                    name: b"_ENV".to_vec().into(),
                    in_stack: false,
                    index: 1,
                }
            })
        },
    );
    // Deeper in the tree, the path names the function.
    let mut p = compile("local function f() local function g() return y end end");
    child(&mut p, |c| {
        let mut g = (*c.prototypes[0]).clone();
        g.upvalues[0].index = 9;
        c.prototypes[0] = Arc::new(g);
    });
    let e = verify(&p).unwrap_err();
    assert_eq!(e.function, vec![0, 0]);
    assert!(e.to_string().starts_with("function <main.0.0>"), "{e}");
}

#[test]
fn refuses_bad_registers() {
    refused("local a, b = 1, 2 a = b", "register", |p| {
        let i = find(p, |x| matches!(x, Move { .. }));
        p.code[i] = Move {
            a: 0,
            b: p.max_stack_size,
        };
    });
    refused("local a = nil local b = nil", "registers", |p| {
        p.code[0] = LoadNil {
            a: 0,
            n: p.max_stack_size,
        };
    });
    refused("local t = {} t:m()", "registers", |p| {
        let i = find(p, |x| matches!(x, SelfK { .. }));
        if let SelfK { k, b, .. } = p.code[i] {
            p.code[i] = SelfK {
                a: p.max_stack_size - 1,
                b,
                k,
            };
        }
    });
    refused("local a, b = ... return a .. b", "registers", |p| {
        let i = find(p, |x| matches!(x, Concat { .. }));
        p.code[i] = Concat {
            a: p.max_stack_size - 1,
            n: 2,
        };
    });
    refused(
        "local a, b = ... return a .. b",
        "concatenation of 1",
        |p| {
            let i = find(p, |x| matches!(x, Concat { .. }));
            p.code[i] = Concat { a: 0, n: 1 };
        },
    );
    refused("local t = {} t[1] = t", "register", |p| {
        let i = find(p, |x| matches!(x, SetI { .. }));
        p.code[i] = SetI {
            a: 0,
            b: 1,
            c: p.max_stack_size as u16,
            ck: false,
        };
    });
    refused("f(1, 2)", "registers", |p| {
        let i = find(p, |x| matches!(x, Call { .. }));
        if let Call { a, c, .. } = p.code[i] {
            p.code[i] = Call {
                a,
                b: p.max_stack_size + 1,
                c,
            };
        }
    });
    refused("local a, b = f()", "registers", |p| {
        let i = find(p, |x| matches!(x, Call { .. }));
        if let Call { a, b, .. } = p.code[i] {
            p.code[i] = Call {
                a,
                b,
                c: p.max_stack_size + 2,
            };
        }
    });
    refused("local a, b = ...", "registers", |p| {
        let i = find(p, |x| matches!(x, VarArg { .. }));
        p.code[i] = VarArg {
            a: 0,
            c: p.max_stack_size + 2,
        };
    });
    refused("local a, b = 1, 2 return a, b", "registers", |p| {
        let i = find(p, |x| matches!(x, Return { .. }));
        if let Return { a, close, .. } = p.code[i] {
            p.code[i] = Return {
                a,
                b: p.max_stack_size + 1,
                close,
            };
        }
    });
    refused("local t = {1, 2, 3}", "registers", |p| {
        let i = find(p, |x| matches!(x, SetList { .. }));
        if let SetList { a, start, .. } = p.code[i] {
            p.code[i] = SetList {
                a,
                n: p.max_stack_size,
                start,
            };
        }
    });
    refused("for i = 1, 2 do end", "registers", |p| {
        let mss = p.max_stack_size;
        for ins in p.code.iter_mut() {
            match ins {
                ForPrep { a, .. } | ForLoop { a, .. } => *a = mss - 3,
                _ => {}
            }
        }
    });
    refused("for k, v in pairs(t) do end", "registers", |p| {
        let i = find(p, |x| matches!(x, TForCall { .. }));
        if let TForCall { a, .. } = p.code[i] {
            p.code[i] = TForCall {
                a,
                c: p.max_stack_size,
            };
        }
    });
    refused("for k, v in pairs(t) do end", "no results", |p| {
        let i = find(p, |x| matches!(x, TForCall { .. }));
        if let TForCall { a, .. } = p.code[i] {
            p.code[i] = TForCall { a, c: 0 };
        }
    });
    refused("local x <close> = nil", "register", |p| {
        let i = find(p, |x| matches!(x, Tbc { .. }));
        p.code[i] = Tbc {
            a: p.max_stack_size,
        };
    });
    refused(
        "local function f(...) return ... end",
        "not variadic",
        |p| child(p, |c| c.is_vararg = false),
    );
}

#[test]
fn refuses_bad_constants() {
    refused("return 'x'", "constant", |p| {
        let i = find(p, |x| matches!(x, LoadK { .. }));
        p.code[i] = LoadK {
            a: 0,
            k: p.constants.len() as u32,
        };
    });
    refused("return x", "not a string", |p| {
        p.constants[0] = Constant::Integer(1);
    });
    refused("local t = {} return t.field", "not a string", |p| {
        let i = find(p, |x| matches!(x, GetField { .. }));
        if let GetField { a, b, .. } = p.code[i] {
            p.constants.push(Constant::Float(1.5));
            p.code[i] = GetField {
                a,
                b,
                k: p.constants.len() as u32 - 1,
            };
        }
    });
    refused("x = 1", "not a string", |p| {
        p.constants[0] = Constant::Boolean(true);
    });
    refused("local t = {} t.f = 1", "not a string", |p| {
        p.constants[0] = Constant::Nil;
    });
    refused("local a = ... return a + 1000000", "not a number", |p| {
        let i = find(p, |x| matches!(x, AddK { .. }));
        if let AddK { k, .. } = p.code[i] {
            p.constants[k as usize] = Constant::String(b"1".to_vec().into());
        }
    });
    refused("local a = ... return a == 'x'", "is a number", |p| {
        let i = find(p, |x| matches!(x, EqK { .. }));
        if let EqK { c, .. } = p.code[i] {
            p.constants[c as usize] = Constant::Integer(3);
        }
    });
    refused("local t = {} t[1] = 'x'", "constant", |p| {
        let i = find(p, |x| matches!(x, SetI { .. }));
        if let SetI { a, b, .. } = p.code[i] {
            p.code[i] = SetI {
                a,
                b,
                c: 999,
                ck: true,
            };
        }
    });
}

#[test]
fn refuses_bad_upvalue_and_prototype_indexes() {
    refused(
        "local x local function f() return x end",
        "upvalue 3",
        |p| {
            child(p, |c| {
                let i = c
                    .code
                    .iter()
                    .position(|x| matches!(x, GetUpval { .. }))
                    .unwrap();
                c.code[i] = GetUpval { a: 0, up: 3 };
            })
        },
    );
    refused("x = 1", "upvalue 1", |p| {
        let i = find(p, |x| matches!(x, SetTabUp { .. }));
        if let SetTabUp { k, c, ck, .. } = p.code[i] {
            p.code[i] = SetTabUp { up: 1, k, c, ck };
        }
    });
    refused("local function f() end", "prototype 1", |p| {
        let i = find(p, |x| matches!(x, Closure { .. }));
        p.code[i] = Closure { a: 0, proto: 1 };
    });
}

#[test]
fn refuses_bad_control_flow() {
    refused("local x = 1", "past the end", |p| {
        p.code.pop();
        p.lines.pop();
        p.local_vars.clear();
    });
    refused("while x do end", "outside the code", |p| {
        let i = find(p, |x| matches!(x, Jmp { .. }));
        p.code[i] = Jmp {
            off: -(i as i32) - 2,
        };
    });
    refused("while x do end", "outside the code", |p| {
        let i = find(p, |x| matches!(x, Jmp { .. }));
        p.code[i] = Jmp { off: 1000 };
    });
    refused("if x then y = 1 end", "followed by Jmp", |p| {
        let i = find(p, |x| matches!(x, Test { .. }));
        p.code[i + 1] = LoadNil { a: 0, n: 0 };
    });
    refused("local a = ... return a == 1", "past the end", |p| {
        // A conditional whose skip lands past the end.
        let n = p.code.len();
        p.code[n - 2] = EqI {
            a: 0,
            i: 1,
            k: true,
            float: false,
        };
        p.code[n - 1] = Jmp { off: -1 };
    });
    refused("local x = not (a == b)", "past the end", |p| {
        let n = p.code.len();
        p.code[n - 1] = LoadFalseSkip { a: 0 };
    });
    refused("return f(x)", "Return { a, b: 0 }", |p| {
        let i = find(p, |x| matches!(x, TailCall { .. }));
        p.code[i + 1] = Return0;
    });
    refused("for i = 1, 2 do end", "ForPrep", |p| {
        let i = find(p, |x| matches!(x, ForPrep { .. }));
        if let ForPrep { a, skip } = p.code[i] {
            p.code[i] = ForPrep { a, skip: skip + 1 };
        }
    });
    refused("for i = 1, 2 do end", "ForLoop", |p| {
        let i = find(p, |x| matches!(x, ForLoop { .. }));
        p.code[i] = ForLoop {
            a: 0,
            back: i as u32 + 5,
        };
    });
    refused("for i = 1, 2 do x = i end", "ForLoop", |p| {
        let i = find(p, |x| matches!(x, ForLoop { .. }));
        if let ForLoop { a, back } = p.code[i] {
            p.code[i] = ForLoop { a, back: back - 1 };
        }
    });
    refused("for k in pairs(t) do end", "TForCall", |p| {
        let i = find(p, |x| matches!(x, TForPrep { .. }));
        if let TForPrep { a, skip } = p.code[i] {
            p.code[i] = TForPrep { a, skip: skip + 1 };
        }
    });
    refused("for k in pairs(t) do end", "TForLoop", |p| {
        let i = find(p, |x| matches!(x, TForCall { .. }));
        p.code[i + 1] = Jmp { off: 0 };
    });
    refused("for k in pairs(t) do x = k end", "TForPrep", |p| {
        let i = find(p, |x| matches!(x, TForLoop { .. }));
        if let TForLoop { a, back } = p.code[i] {
            p.code[i] = TForLoop { a, back: back - 1 };
        }
    });
}

#[test]
fn refuses_top_without_producer() {
    // `return ...`: VarArg c=0, Return b=0.
    refused("return ...", "top of the stack", |p| {
        let i = find(p, |x| matches!(x, VarArg { .. }));
        p.code[i] = VarArg { a: 0, c: 1 };
    });
    refused("f(g())", "top of the stack", |p| {
        let i = find(p, |x| matches!(x, Call { c: 0, .. }));
        if let Call { a, b, .. } = p.code[i] {
            p.code[i] = Call { a, b, c: 2 };
        }
    });
    // A producer below the consumer's first register.
    refused("local t = {...}", "top of the stack", |p| {
        let i = find(p, |x| matches!(x, VarArg { .. }));
        p.code[i] = VarArg { a: 0, c: 0 };
    });
    // A jump landing on the consumer.
    refused("return ...", "top of the stack", |p| {
        p.code.insert(0, Jmp { off: 1 });
        p.lines.insert(0, 1);
    });
    refused("local t = {...}", "top of the stack", |p| {
        p.code[0] = SetList {
            a: 0,
            n: 0,
            start: 0,
        };
    });
}

#[test]
fn refuses_bad_frame_state() {
    // A tail call inside the scope of a to-be-closed variable.
    refused("local x <close> = nil; return f()", "tail call", |p| {
        let i = find(p, |x| matches!(x, Call { c: 0, .. }));
        if let Call { a, b, .. } = p.code[i] {
            p.code[i] = TailCall { a, b };
        }
    });
    refused(
        "local x <close> = nil; return 1",
        "return without closing",
        |p| {
            for ins in p.code.iter_mut() {
                if let Return { close, .. } = ins {
                    *close = false;
                }
            }
        },
    );
    refused(
        "local x <close> = nil; return",
        "return without closing",
        |p| {
            for ins in p.code.iter_mut() {
                if let Return { .. } = ins {
                    *ins = Return0;
                }
            }
        },
    );
    // A to-be-closed variable registered below a pending one.
    refused(
        "local x <close> = nil local y <close> = nil",
        "below a pending",
        |p| {
            let i = p
                .code
                .iter()
                .rposition(|x| matches!(x, Tbc { .. }))
                .unwrap();
            p.code[i] = Tbc { a: 0 };
        },
    );
    // A call whose frame would cover a captured register.
    refused(
        "local a, b, c; local function f() return c end; f()",
        "captured register",
        |p| {
            let i = find(p, |x| matches!(x, Call { .. }));
            if let Call { b, c, .. } = p.code[i] {
                p.code[i] = Call { a: 1, b, c };
            }
        },
    );
    refused("local x <close> = nil; f()", "pending to-be-closed", |p| {
        let i = find(p, |x| matches!(x, Call { .. }));
        p.code[i] = Call { a: 0, b: 1, c: 1 };
    });
    // Closing first makes it fine.
    let mut p = compile("local a, b, c; local function f() return c end; f()");
    let i = find(&p, |x| matches!(x, Call { .. }));
    if let Call { b, c, .. } = p.code[i] {
        p.code[i] = Call { a: 1, b, c };
        p.code.insert(i, Close { a: 0 });
        p.lines.insert(i, 1);
    }
    verify(&p).unwrap();
}

#[test]
fn dataflow_is_bounded() {
    // Many nested loops: still a few visits per instruction.
    let mut src = String::new();
    for _ in 0..30 {
        src.push_str("for i = 1, 2 do local x = {} local f = function() return x end ");
    }
    for _ in 0..30 {
        src.push_str("end ");
    }
    compile(&src);
    let _ = LocalVar {
        name: Vec::new().into(),
        start_pc: 0,
        end_pc: 0,
    };
}
