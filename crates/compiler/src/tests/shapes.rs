//! Code shape tests: the instructions chosen for small snippets.

use super::checker::compile_checked;
use crate::opcode::Instruction::{self, *};
use crate::proto::Constant;

fn code(src: &str) -> Vec<Instruction> {
    compile_checked(src).code.clone()
}

fn fcode(src: &str) -> Vec<Instruction> {
    compile_checked(src).prototypes[0].code.clone()
}

#[test]
fn global_field_load() {
    let p = compile_checked("local a = b.c");
    assert_eq!(
        p.code,
        vec![
            GetTabUp { a: 0, up: 0, k: 0 },
            GetField { a: 0, b: 0, k: 1 },
            Return0
        ]
    );
    assert_eq!(
        p.constants,
        vec![
            Constant::String((*b"b").into()),
            Constant::String((*b"c").into())
        ]
    );
    assert_eq!(p.local_vars.len(), 1);
    assert_eq!(&*p.local_vars[0].name, b"a");
    assert_eq!((p.local_vars[0].start_pc, p.local_vars[0].end_pc), (2, 3));
}

#[test]
fn main_returns_use_plain_return_forms() {
    // PUC keeps RETURN0/RETURN1 for vararg functions only in the non-vararg case; we always
    // use the short forms when nothing has to be closed.
    assert_eq!(code("return"), vec![Return0, Return0]);
    assert_eq!(
        code("local x; return x"),
        vec![LoadNil { a: 0, n: 0 }, Return1 { a: 0 }, Return0]
    );
}

#[test]
fn increments_use_addi() {
    assert_eq!(
        code("x = x + 1"),
        vec![
            GetTabUp { a: 0, up: 0, k: 0 },
            AddI {
                a: 0,
                b: 0,
                i: 1,
                flip: false
            },
            SetTabUp {
                up: 0,
                k: 0,
                c: 0,
                ck: false
            },
            Return0
        ]
    );
    assert_eq!(
        fcode("local function f(a) return a + 1 end")[0],
        AddI {
            a: 1,
            b: 0,
            i: 1,
            flip: false
        }
    );
    assert_eq!(
        fcode("local function f(a) return a - 1 end")[0],
        SubK { a: 1, b: 0, k: 0 }
    );
    assert_eq!(
        fcode("local function f(a) return a * 2.5 end")[0],
        MulK {
            a: 1,
            b: 0,
            k: 0,
            flip: false
        }
    );
    assert_eq!(
        fcode("local function f(a) return a & 7 end")[0],
        BAndK { a: 1, b: 0, k: 0 }
    );
    assert_eq!(
        fcode("local function f(a) return a >> 3 end")[0],
        ShrI { a: 1, b: 0, i: 3 }
    );
    assert_eq!(
        fcode("local function f(a) return 3 << a end")[0],
        ShlI { a: 1, b: 0, i: 3 }
    );
    assert_eq!(
        fcode("local function f(a, b) return a << b end")[0],
        Shl { a: 2, b: 0, c: 1 }
    );
    // a constant on the left of a non-commutative operator is loaded (`1 + a` swaps its
    // operands with `flip` set: see `numerals_on_the_left_of_commutative_operators...`)
    let c = fcode("local function f(a) return 1 - a end");
    assert_eq!(&c[..2], &[LoadI { a: 1, i: 1 }, Sub { a: 1, b: 1, c: 0 }]);
}

#[test]
fn constant_folding() {
    let p = compile_checked("return 1 + 2 * 3, 2^10, 7 // 2, 1 / 0, -(-3), ~5, 3 | 4.0, 10 // 0.0");
    assert_eq!(p.code[0], LoadI { a: 0, i: 7 });
    assert_eq!(p.code[1], LoadF { a: 1, f: 1024 });
    assert_eq!(p.code[2], LoadI { a: 2, i: 3 });
    // 1 / 0 is not folded
    assert_eq!(p.code[3], LoadI { a: 3, i: 1 });
    assert!(matches!(p.code[4], DivK { a: 3, b: 3, .. }), "{:?}", p.code);
    let p = compile_checked("local x <const> = 10; local y = x * 2; return y");
    assert_eq!(p.code[0], LoadI { a: 0, i: 20 });
    assert_eq!(p.local_vars.len(), 1, "x takes no register");
    // -0.0 and NaN are not folded
    let p = compile_checked("return -0.0, 0/0");
    assert!(p.code.iter().any(|i| matches!(i, Unm { .. })));
    assert!(p.code.iter().any(|i| matches!(i, Div { .. } | DivK { .. })));
}

#[test]
fn comparisons_with_constants() {
    let c = fcode("local function f(a) if a == 1 then return 1 end end");
    assert_eq!(
        c[0],
        EqI {
            a: 0,
            i: 1,
            k: false,
            float: false
        }
    );
    assert!(matches!(c[1], Jmp { .. }));
    let c = fcode("local function f(a) if a == 'x' then return 1 end end");
    assert_eq!(
        c[0],
        EqK {
            a: 0,
            c: 0,
            k: false
        }
    );
    let c = fcode("local function f(a) if 'x' == a then return 1 end end");
    assert_eq!(
        c[0],
        EqK {
            a: 0,
            c: 0,
            k: false
        }
    );
    let c = fcode("local function f(a) if a < 10 then return 1 end end");
    assert_eq!(
        c[0],
        LtI {
            a: 0,
            i: 10,
            k: false,
            float: false
        }
    );
    let c = fcode("local function f(a) if 10 < a then return 1 end end");
    assert_eq!(
        c[0],
        GtI {
            a: 0,
            i: 10,
            k: false,
            float: false
        }
    );
    let c = fcode("local function f(a) if a >= 2.0 then return 1 end end");
    assert_eq!(
        c[0],
        GeI {
            a: 0,
            i: 2,
            k: false,
            float: true
        }
    );
    let c = fcode("local function f(a, b) if a > b then return 1 end end");
    assert_eq!(
        c[0],
        Lt {
            a: 1,
            b: 0,
            k: false
        }
    );
    // numbers that don't fit an immediate go through a register (EqK never holds numbers)
    let c = fcode("local function f(a) return a == 1.5 end");
    assert!(matches!(c[1], Eq { .. }), "{c:?}");
    let c = fcode("local function f(a) return a < b end");
    assert!(c.iter().any(|i| matches!(i, LoadFalseSkip { .. })));
    assert!(c.iter().any(|i| matches!(i, LoadTrue { .. })));
}

#[test]
fn and_or_use_testset() {
    let c = fcode("local function f(a, b) return a and b end");
    assert_eq!(
        &c[..4],
        &[
            TestSet {
                a: 2,
                b: 0,
                k: false
            },
            Jmp { off: 1 },
            Move { a: 2, b: 1 },
            Return1 { a: 2 }
        ]
    );
    let c = fcode("local function f(a, b) local c = a or b; return c end");
    assert_eq!(
        &c[..3],
        &[
            TestSet {
                a: 2,
                b: 0,
                k: true
            },
            Jmp { off: 1 },
            Move { a: 2, b: 1 }
        ]
    );
    let c = fcode("local function f(a, b) if a and b then return 1 end end");
    assert_eq!(
        &c[..4],
        &[
            Test { a: 0, k: false },
            Jmp { off: 4 },
            Test { a: 1, k: false },
            Jmp { off: 2 }
        ]
    );
    let c = fcode("local function f(a) if not a then return 1 end end");
    assert_eq!(c[0], Test { a: 0, k: true });
}

#[test]
fn numeric_for_offsets() {
    let c = code("for i = 1, 10 do f(i) end");
    assert_eq!(
        c,
        vec![
            LoadI { a: 0, i: 1 },
            LoadI { a: 1, i: 10 },
            LoadI { a: 2, i: 1 },
            ForPrep { a: 0, skip: 4 },
            GetTabUp { a: 4, up: 0, k: 0 },
            Move { a: 5, b: 3 },
            Call { a: 4, b: 2, c: 1 },
            ForLoop { a: 0, back: 4 },
            Return0
        ]
    );
}

#[test]
fn generic_for_offsets() {
    let c = code("for k, v in pairs(t) do f(k) end");
    assert_eq!(
        &c[3..],
        &[
            TForPrep { a: 0, skip: 3 },
            GetTabUp { a: 6, up: 0, k: 2 },
            Move { a: 7, b: 4 },
            Call { a: 6, b: 2, c: 1 },
            TForCall { a: 0, c: 2 },
            TForLoop { a: 0, back: 5 },
            Close { a: 0 },
            Return {
                a: 0,
                b: 1,
                close: true
            },
        ]
    );
}

#[test]
fn closures_in_loops_get_fresh_variables() {
    let c = code("for i = 1, 3 do g = function() return i end end");
    let close_pos = c
        .iter()
        .position(|i| matches!(i, Close { a: 3 }))
        .expect("Close in body");
    assert!(matches!(c[close_pos + 1], ForLoop { .. }));
    let p = compile_checked("local x = 1; f = function() x = x + 1 end");
    let u = &p.prototypes[0].upvalues[0];
    assert!(u.in_stack && u.index == 0 && &*u.name == b"x");
    let p = compile_checked("local x; f = function() return function() return x end end");
    let inner = &p.prototypes[0].prototypes[0];
    assert!(!inner.upvalues[0].in_stack && inner.upvalues[0].index == 0);
}

#[test]
fn tail_calls() {
    assert!(matches!(code("return f(x)")[2], TailCall { a: 0, b: 2 }));
    assert!(!code("return (f(x))")
        .iter()
        .any(|i| matches!(i, TailCall { .. })));
    let c = code("local x <close> = f(); return g()");
    assert!(!c.iter().any(|i| matches!(i, TailCall { .. })));
    assert!(c.iter().any(|i| matches!(i, Tbc { a: 0 })));
    assert!(c.iter().any(|i| matches!(i, Return { close: true, .. })));
}

#[test]
fn self_calls_and_concat() {
    let c = code("obj:m(1)");
    assert_eq!(
        c,
        vec![
            GetTabUp { a: 0, up: 0, k: 0 },
            SelfK { a: 0, b: 0, k: 1 },
            LoadI { a: 2, i: 1 },
            Call { a: 0, b: 3, c: 1 },
            Return0
        ]
    );
    let c = code("local a, b, c; x = a .. b .. c");
    assert!(c.contains(&Concat { a: 3, n: 3 }), "{c:?}");
}

#[test]
fn tables() {
    let c = code("local t = {1, 2, 3, x = 1}");
    assert_eq!(
        c[0],
        NewTable {
            a: 0,
            hash: 1,
            array: 3
        }
    );
    assert!(c.contains(&SetList {
        a: 0,
        n: 3,
        start: 0
    }));
    assert!(
        c.contains(&SetField {
            a: 0,
            k: 0,
            c: 1,
            ck: true
        }) || c.iter().any(|i| matches!(i, SetField { .. }))
    );
    let c = code("local t = {f()}");
    assert!(c.contains(&SetList {
        a: 0,
        n: 0,
        start: 0
    }));
    let s = format!("local t = {{{}}}", vec!["1"; 120].join(","));
    let c = code(&s);
    let lists: Vec<_> = c.iter().filter(|i| matches!(i, SetList { .. })).collect();
    assert_eq!(
        lists,
        vec![
            &SetList {
                a: 0,
                n: 50,
                start: 0
            },
            &SetList {
                a: 0,
                n: 50,
                start: 50
            },
            &SetList {
                a: 0,
                n: 20,
                start: 100
            }
        ]
    );
    let c = code("local t = {}; t[1] = 2; t.x = t[256]");
    assert!(
        c.contains(&SetI {
            a: 0,
            b: 1,
            c: 0,
            ck: true
        }) || c.iter().any(|i| matches!(i, SetI { a: 0, b: 1, .. }))
    );
    assert!(c.iter().any(|i| matches!(i, GetTable { .. })));
}

#[test]
fn env_local() {
    let c = code("local _ENV = {}; x = y");
    assert!(c.contains(&GetField { a: 1, b: 0, k: 1 }));
    assert!(c.contains(&SetField {
        a: 0,
        k: 0,
        c: 1,
        ck: false
    }));
}

#[test]
fn assignment_conflicts() {
    // `a[i], i = 1, 2`: the table index uses a copy of i made before the assignment
    let c = code("local a, i = {}, 1; a[i], i = 10, 20");
    assert!(c.contains(&Move { a: 2, b: 1 }), "{c:?}");
    assert!(
        c.iter().any(|x| matches!(x, SetTable { a: 0, b: 2, .. })),
        "{c:?}"
    );
}

#[test]
fn goto_and_break_close() {
    let c = code("while true do local x; f(function() return x end); break end");
    // break out of a block with a captured variable closes it
    assert!(c.iter().any(|i| matches!(i, Close { .. })));
    let c = code("do local x; f(function() return x end); goto out end ::out::");
    assert!(c.iter().any(|i| matches!(i, Close { a: 0 })));
}

#[test]
fn method_definitions() {
    let p = compile_checked("function a.b:c(x) return self end");
    let f = &p.prototypes[0];
    assert_eq!(f.num_params, 2);
    assert_eq!(&*f.local_vars[0].name, b"self");
    assert_eq!((f.line_defined, f.last_line_defined), (1, 1));
}

#[test]
fn lines() {
    let p = compile_checked("local a =\n1 +\nb\nf(\na)");
    assert_eq!(p.lines.len(), p.code.len());
    // the Add happens on the operator's line, the call on the line of the callee
    let add = p
        .code
        .iter()
        .position(|i| matches!(i, AddI { .. }))
        .unwrap();
    assert_eq!(p.lines[add], 2);
    let call = p
        .code
        .iter()
        .position(|i| matches!(i, Call { .. }))
        .unwrap();
    assert_eq!(p.lines[call], 4);
}

#[test]
fn varargs() {
    let c = code("local a, b = ...");
    assert_eq!(c[0], VarArg { a: 0, c: 3 });
    let c = code("f(...)");
    assert_eq!(c[1], VarArg { a: 1, c: 0 });
    assert_eq!(c[2], Call { a: 0, b: 0, c: 1 });
    let p = compile_checked("local function f(a, ...) end");
    assert!(p.prototypes[0].is_vararg);
    assert!(!compile_checked("local function f(a) end").prototypes[0].is_vararg);
}

#[test]
fn large_constant_indexes_use_registers() {
    let mut s = String::from("local t = {}\n");
    for i in 0..66000 {
        s.push_str(&format!("local _ = 'c{i}'\n"));
        if i % 150 == 0 {
            s.push_str("do end\n");
        }
    }
    let _ = s;
    let mut s = String::from("local t = {}\n");
    for i in 0..66000 {
        s.push_str(&format!("t[1] = 'c{i}'\n"));
    }
    s.push_str("t.newkey = 'newvalue'; g = 1.25; return t.newkey == 'zzz'\n");
    let p = compile_checked(&s);
    let n = p.code.len();
    // SetField with a key beyond u16 is not possible: the key goes through a register
    assert!(
        p.code[n - 12..]
            .iter()
            .any(|i| matches!(i, SetTable { .. })),
        "{:?}",
        &p.code[n - 12..]
    );
    assert!(!p.code[n - 12..]
        .iter()
        .any(|i| matches!(i, SetField { .. } | SetTabUp { .. } | EqK { .. })));
}

#[test]
fn numerals_on_the_left_of_commutative_operators_become_operands() {
    // Like PUC's `codecommutative`: `1 + a`, `2.5 * a` use the immediate/constant forms with
    // `flip` (metamethods and errors see the source order); `-` and `/` are not commutative.
    assert_eq!(
        fcode("local function f(a) return 1 + a end")[0],
        AddI {
            a: 1,
            b: 0,
            i: 1,
            flip: true
        }
    );
    assert_eq!(
        fcode("local function f(a) return 2.5 * a end")[0],
        MulK {
            a: 1,
            b: 0,
            k: 0,
            flip: true
        }
    );
    assert_eq!(
        fcode("local function f(a) return 0.5 + a end")[0],
        AddK {
            a: 1,
            b: 0,
            k: 0,
            flip: true
        }
    );
    assert_eq!(
        fcode("local function f(a) return 2 - a end")[..2],
        [LoadI { a: 1, i: 2 }, Sub { a: 1, b: 1, c: 0 }]
    );
}
