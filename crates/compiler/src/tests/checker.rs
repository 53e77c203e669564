//! Structural verifier for compiled prototypes (test only): jump targets in bounds,
//! conditional instructions followed by `Jmp`, for-loop instruction pairing, operand ranges.

#![allow(clippy::collapsible_match, clippy::collapsible_if)]

use crate::opcode::Instruction::{self, *};
use crate::proto::{Constant, Prototype};

/// Registers written or read as `a` by the instruction (for range checks): its result
/// register (`Instruction::result_register`), the last of a block, or another `a` operand.
fn reg_a(i: &Instruction) -> Option<u8> {
    Some(match *i {
        LoadNil { a, n } => a.checked_add(n).expect("LoadNil range"),
        SelfK { a, .. } => a + 1,
        SetUpval { a, .. }
        | SetTable { a, .. }
        | SetI { a, .. }
        | SetField { a, .. }
        | Tbc { a }
        | Eq { a, .. }
        | Lt { a, .. }
        | Le { a, .. }
        | EqK { a, .. }
        | EqI { a, .. }
        | LtI { a, .. }
        | LeI { a, .. }
        | GtI { a, .. }
        | GeI { a, .. }
        | Test { a, .. }
        | TestSet { a, .. }
        | Call { a, .. }
        | TailCall { a, .. }
        | Return1 { a }
        | ForPrep { a, .. }
        | ForLoop { a, .. }
        | TForPrep { a, .. }
        | TForCall { a, .. }
        | TForLoop { a, .. }
        | SetList { a, .. } => a,
        _ => return i.result_register(),
    })
}

/// Panics with a description of the first problem found in `p` or its children.
pub(crate) fn check_proto(p: &Prototype, is_main: bool) {
    let n = p.code.len();
    let fail = |pc: usize, msg: &str| -> ! {
        panic!(
            "proto at line {}: pc {pc}: {msg}\n{}",
            p.line_defined,
            crate::disassemble(p)
        )
    };
    assert_eq!(n, p.lines.len(), "lines length");
    assert!(n > 0, "empty code");
    assert!(p.max_stack_size >= 2, "max_stack_size >= 2");
    assert!(
        matches!(p.code[n - 1], Return { .. } | Return0 | Return1 { .. }),
        "last instruction must be a return"
    );
    if is_main {
        assert_eq!(p.upvalues.len(), 1);
        assert_eq!(&*p.upvalues[0].name, b"_ENV");
        assert!(p.upvalues[0].in_stack && p.upvalues[0].index == 0);
        assert!(p.is_vararg);
    }
    let kstr = |k: u64| matches!(p.constants.get(k as usize), Some(Constant::String(_)));
    let knum = |k: u64| {
        matches!(
            p.constants.get(k as usize),
            Some(Constant::Integer(_) | Constant::Float(_))
        )
    };
    let kint = |k: u64| matches!(p.constants.get(k as usize), Some(Constant::Integer(_)));
    let kany = |k: u64| (k as usize) < p.constants.len();
    for (pc, i) in p.code.iter().enumerate() {
        if let Some(a) = reg_a(i) {
            if a >= p.max_stack_size {
                fail(pc, &format!("register {a} >= max_stack_size"));
            }
        }
        if i.is_test() {
            if !matches!(p.code.get(pc + 1), Some(Jmp { .. })) {
                fail(pc, "conditional not followed by Jmp");
            }
        }
        let up_ok = |up: u8| (up as usize) < p.upvalues.len();
        match *i {
            Jmp { off } => {
                let t = pc as i64 + 1 + off as i64;
                if t < 0 || t >= n as i64 {
                    fail(pc, "jump out of bounds");
                }
            }
            LoadFalseSkip { .. } => {
                if pc + 2 > n - 1 {
                    fail(pc, "LoadFalseSkip skips past the end");
                }
            }
            TestSet { a, b, .. } => {
                if a == 255 || a == b {
                    fail(pc, "unpatched TestSet");
                }
            }
            ForPrep { a, skip } => {
                let l = pc + skip as usize;
                match p.code.get(l) {
                    Some(&ForLoop { a: a2, back }) if a2 == a && back == skip => {}
                    _ => fail(pc, "ForPrep without matching ForLoop"),
                }
            }
            ForLoop { a, back } => {
                let prep = pc.checked_sub(back as usize);
                match prep.map(|x| p.code[x]) {
                    Some(ForPrep { a: a2, .. }) if a2 == a => {}
                    _ => fail(pc, "ForLoop without matching ForPrep"),
                }
            }
            TForPrep { a, skip } => {
                let c = pc + 1 + skip as usize;
                match (p.code.get(c), p.code.get(c + 1)) {
                    (Some(&TForCall { a: a2, c: nres }), Some(&TForLoop { a: a3, back }))
                        if a2 == a && a3 == a && nres >= 1 && back as usize == c + 1 - pc => {}
                    _ => fail(pc, "TForPrep without matching TForCall/TForLoop"),
                }
                if a as u32 + 4 >= p.max_stack_size as u32 {
                    fail(pc, "generic for needs more registers");
                }
            }
            TForCall { .. } => {
                if !matches!(p.code.get(pc + 1), Some(TForLoop { .. })) {
                    fail(pc, "TForCall not followed by TForLoop");
                }
            }
            TForLoop { back, .. } => {
                let prep = pc.checked_sub(back as usize);
                if !matches!(prep.map(|x| p.code[x]), Some(TForPrep { .. })) {
                    fail(pc, "TForLoop without TForPrep");
                }
            }
            GetTabUp { up, k, .. } => {
                if !up_ok(up) || !kstr(k as u64) {
                    fail(pc, "bad GetTabUp");
                }
            }
            SetTabUp { up, k, c, ck } => {
                if !up_ok(up) || !kstr(k as u64) || (ck && !kany(c as u64)) {
                    fail(pc, "bad SetTabUp");
                }
            }
            GetUpval { up, .. } | SetUpval { up, .. } => {
                if !up_ok(up) {
                    fail(pc, "bad upvalue index");
                }
            }
            GetField { k, .. } | SelfK { k, .. } => {
                if !kstr(k as u64) {
                    fail(pc, "field key not a string constant");
                }
            }
            SetField { k, c, ck, .. } => {
                if !kstr(k as u64) || (ck && !kany(c as u64)) {
                    fail(pc, "bad SetField");
                }
            }
            SetTable { c, ck, .. } | SetI { c, ck, .. } => {
                if ck && !kany(c as u64) {
                    fail(pc, "bad RK constant");
                }
            }
            LoadK { k, .. } => {
                if !kany(k as u64) {
                    fail(pc, "bad LoadK");
                }
            }
            AddK { k, .. }
            | SubK { k, .. }
            | MulK { k, .. }
            | ModK { k, .. }
            | PowK { k, .. }
            | DivK { k, .. }
            | IDivK { k, .. } => {
                if !knum(k as u64) {
                    fail(pc, "arith K not a number");
                }
            }
            BAndK { k, .. } | BOrK { k, .. } | BXorK { k, .. } => {
                if !kint(k as u64) {
                    fail(pc, "bitwise K not an integer");
                }
            }
            EqK { c, .. } => {
                if !kany(c as u64) || knum(c as u64) {
                    fail(pc, "EqK constant must be a non-number");
                }
            }
            Closure { proto, .. } => {
                if proto as usize >= p.prototypes.len() {
                    fail(pc, "bad Closure index");
                }
            }
            Concat { n, .. } => {
                if n < 2 {
                    fail(pc, "Concat with < 2 values");
                }
            }
            TailCall { .. } => {
                if !matches!(p.code.get(pc + 1), Some(Return { b: 0, .. })) {
                    fail(pc, "TailCall not followed by Return");
                }
            }
            _ => {}
        }
    }
    for l in &p.local_vars {
        assert!(
            l.start_pc <= l.end_pc && l.end_pc as usize <= n,
            "local var range"
        );
    }
    for child in &p.prototypes {
        assert!(child.line_defined > 0 && child.last_line_defined >= child.line_defined);
        for u in &child.upvalues {
            if u.in_stack {
                assert!(u.index < p.max_stack_size, "upvalue register out of range");
            } else {
                assert!(
                    (u.index as usize) < p.upvalues.len(),
                    "upvalue index out of range"
                );
            }
        }
        check_proto(child, false);
    }
}

/// Compiles and checks; returns the prototype.
pub(crate) fn compile_checked(src: &str) -> std::sync::Arc<Prototype> {
    let p = crate::compile(src.as_bytes(), "=check")
        .unwrap_or_else(|e| panic!("compile error: {e}\n--- source:\n{src}"));
    check_proto(&p, true);
    if let Err(e) = crate::verify::verify(&p) {
        panic!("verifier refused compiled code: {e}\n--- source:\n{src}");
    }
    p
}
