//! Human-readable listings of compiled prototypes (for debugging).

use std::fmt::Write;

use crate::opcode::Instruction;
use crate::proto::{Constant, Prototype};

fn constant_str(c: &Constant) -> String {
    match c {
        Constant::Nil => "nil".into(),
        Constant::Boolean(b) => b.to_string(),
        Constant::Integer(i) => i.to_string(),
        Constant::Float(f) => {
            if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e16 {
                format!("{f:.1}")
            } else {
                format!("{f}")
            }
        }
        Constant::String(s) => format!("{:?}", String::from_utf8_lossy(s)),
    }
}

/// Lists a prototype and all its nested prototypes.
pub fn disassemble(proto: &Prototype) -> String {
    let mut out = String::new();
    write_proto(&mut out, proto, &mut Vec::new());
    out
}

fn write_proto(out: &mut String, p: &Prototype, path: &mut Vec<usize>) {
    let kind = if path.is_empty() { "main" } else { "function" };
    let id: Vec<String> = path.iter().map(|i| i.to_string()).collect();
    let _ = writeln!(
        out,
        "{kind} <{}:{},{}> [{}] ({} instructions)",
        p.source,
        p.line_defined,
        p.last_line_defined,
        id.join("."),
        p.code.len()
    );
    let _ = writeln!(
        out,
        "{}{} params, {} slots, {} upvalues, {} locals, {} constants, {} functions",
        p.num_params,
        if p.is_vararg { "+" } else { "" },
        p.max_stack_size,
        p.upvalues.len(),
        p.local_vars.len(),
        p.constants.len(),
        p.prototypes.len()
    );
    for (pc, i) in p.code.iter().enumerate() {
        let line = p.lines.get(pc).copied().unwrap_or(0);
        let _ = write!(out, "\t{:<5}[{line}]\t{:?}", pc, i);
        let comment = comment(p, pc, i);
        if !comment.is_empty() {
            let _ = write!(out, "\t; {comment}");
        }
        out.push('\n');
    }
    let _ = writeln!(out, "constants ({}):", p.constants.len());
    for (i, c) in p.constants.iter().enumerate() {
        let _ = writeln!(out, "\t{i}\t{}", constant_str(c));
    }
    let _ = writeln!(out, "locals ({}):", p.local_vars.len());
    for (i, l) in p.local_vars.iter().enumerate() {
        let _ = writeln!(
            out,
            "\t{i}\t{}\t{}\t{}",
            String::from_utf8_lossy(&l.name),
            l.start_pc,
            l.end_pc
        );
    }
    let _ = writeln!(out, "upvalues ({}):", p.upvalues.len());
    for (i, u) in p.upvalues.iter().enumerate() {
        let _ = writeln!(
            out,
            "\t{i}\t{}\t{}\t{}",
            String::from_utf8_lossy(&u.name),
            u.in_stack as u8,
            u.index
        );
    }
    for (i, child) in p.prototypes.iter().enumerate() {
        out.push('\n');
        path.push(i);
        write_proto(out, child, path);
        path.pop();
    }
}

fn k(p: &Prototype, idx: impl Into<u64>) -> String {
    p.constants
        .get(idx.into() as usize)
        .map_or_else(|| "?".into(), constant_str)
}

fn comment(p: &Prototype, pc: usize, i: &Instruction) -> String {
    use Instruction::*;
    let target = |off: i64| format!("to {}", pc as i64 + 1 + off);
    match *i {
        LoadK { k: kk, .. }
        | GetField { k: kk, .. }
        | GetTabUp { k: kk, .. }
        | SelfK { k: kk, .. } => k(p, kk),
        SetField { k: kk, c, ck, .. } | SetTabUp { k: kk, c, ck, .. } => {
            if ck {
                format!("{} {}", k(p, kk), k(p, c))
            } else {
                k(p, kk)
            }
        }
        SetTable { c, ck: true, .. } | SetI { c, ck: true, .. } => k(p, c),
        AddK { k: kk, .. }
        | SubK { k: kk, .. }
        | MulK { k: kk, .. }
        | ModK { k: kk, .. }
        | PowK { k: kk, .. }
        | DivK { k: kk, .. }
        | IDivK { k: kk, .. }
        | BAndK { k: kk, .. }
        | BOrK { k: kk, .. }
        | BXorK { k: kk, .. } => k(p, kk),
        EqK { c, .. } => k(p, c),
        Jmp { off } => target(off as i64),
        ForPrep { skip, .. } => format!("exit to {}", pc + 1 + skip as usize),
        TForPrep { skip, .. } => target(skip as i64),
        ForLoop { back, .. } | TForLoop { back, .. } => target(-(back as i64)),
        _ => String::new(),
    }
}
