//! Debug information derived from bytecode: variable names for error messages (PUC's
//! `getobjname`/`funcnamefromcode` facts, reimplemented on lunette's instruction set),
//! positions (`luaL_where`) and tracebacks.

use lunette_compiler::{chunk_id, Constant, Instruction, Prototype};

use crate::function::FunctionProto;
use crate::thread::{Frame, LuaFrame, ThreadState};

/// Name of the `reg`-th active local at `pc` (registers are allocated to locals in order).
pub fn local_name(fp: &FunctionProto<'_>, pc: usize, reg: usize) -> Option<String> {
    local_name_in(&fp.proto, pc, reg)
}

fn local_name_in(p: &Prototype, pc: usize, reg: usize) -> Option<String> {
    let mut n = 0;
    for lv in &p.local_vars {
        if lv.start_pc as usize > pc {
            break;
        }
        if pc < lv.end_pc as usize {
            if n == reg {
                return Some(String::from_utf8_lossy(&lv.name).into_owned());
            }
            n += 1;
        }
    }
    None
}

fn const_str(p: &Prototype, k: usize) -> Option<String> {
    match p.constants.get(k) {
        Some(Constant::String(s)) => Some(String::from_utf8_lossy(s).into_owned()),
        _ => None,
    }
}

fn upvalue_name(p: &Prototype, up: usize) -> String {
    p.upvalues
        .get(up)
        .map(|u| String::from_utf8_lossy(&u.name).into_owned())
        .unwrap_or_else(|| "?".into())
}

/// The register written by an instruction, as a range `first..=last`.
fn written_registers(ins: Instruction) -> Option<(usize, usize)> {
    use Instruction::*;
    let a = match ins {
        Move { a, .. }
        | LoadI { a, .. }
        | LoadF { a, .. }
        | LoadK { a, .. }
        | LoadFalse { a }
        | LoadFalseSkip { a }
        | LoadTrue { a }
        | GetUpval { a, .. }
        | GetTabUp { a, .. }
        | GetTable { a, .. }
        | GetI { a, .. }
        | GetField { a, .. }
        | NewTable { a, .. }
        | AddI { a, .. }
        | AddK { a, .. }
        | SubK { a, .. }
        | MulK { a, .. }
        | ModK { a, .. }
        | PowK { a, .. }
        | DivK { a, .. }
        | IDivK { a, .. }
        | BAndK { a, .. }
        | BOrK { a, .. }
        | BXorK { a, .. }
        | ShrI { a, .. }
        | ShlI { a, .. }
        | Add { a, .. }
        | Sub { a, .. }
        | Mul { a, .. }
        | Mod { a, .. }
        | Pow { a, .. }
        | Div { a, .. }
        | IDiv { a, .. }
        | BAnd { a, .. }
        | BOr { a, .. }
        | BXor { a, .. }
        | Shl { a, .. }
        | Shr { a, .. }
        | Unm { a, .. }
        | BNot { a, .. }
        | Not { a, .. }
        | Len { a, .. }
        | Concat { a, .. }
        | TestSet { a, .. }
        | Closure { a, .. } => a,
        SelfK { a, .. } => return Some((a as usize, a as usize + 1)),
        LoadNil { a, n } => return Some((a as usize, a as usize + n as usize)),
        ForPrep { a, .. } | ForLoop { a, .. } => return Some((a as usize, a as usize + 3)),
        VarArg { a, .. } | Call { a, .. } | TailCall { a, .. } => {
            return Some((a as usize, usize::MAX))
        }
        TForCall { a, .. } => return Some((a as usize + 2, usize::MAX)),
        _ => return None,
    };
    Some((a as usize, a as usize))
}

/// The last instruction before `lastpc` that certainly set `reg` (PUC's `findsetreg`: an
/// instruction inside a forward-jumped region does not count).
fn find_set_reg(p: &Prototype, lastpc: usize, reg: usize) -> Option<usize> {
    let mut setreg = None;
    let mut jmptarget = 0usize;
    for pc in 0..lastpc.min(p.code.len()) {
        let ins = p.code[pc];
        if let Instruction::Jmp { off } = ins {
            let dest = pc as i64 + 1 + off as i64;
            if dest > pc as i64 && dest as usize <= lastpc && dest as usize > jmptarget {
                jmptarget = dest as usize;
            }
            continue;
        }
        if let Some((first, last)) = written_registers(ins) {
            if first <= reg && reg <= last {
                setreg = if pc < jmptarget { None } else { Some(pc) };
            }
        }
    }
    setreg
}

/// `(kind, name)` of the value in `reg` at `pc`: `("local", "x")`, `("global", "f")`, ...
pub fn object_name(p: &Prototype, lastpc: usize, reg: usize) -> Option<(&'static str, String)> {
    let mut reg = reg;
    let mut lastpc = lastpc;
    // Follows `Move` chains iteratively.
    for _ in 0..256 {
        if let Some(name) = local_name_in(p, lastpc, reg) {
            return Some(("local", name));
        }
        let pc = find_set_reg(p, lastpc, reg)?;
        match p.code[pc] {
            Instruction::Move { a, b } if b < a => {
                reg = b as usize;
                lastpc = pc;
                continue;
            }
            Instruction::GetTabUp { up, k, .. } => {
                let key = const_str(p, k as usize).unwrap_or_else(|| "?".into());
                let kind = if upvalue_name(p, up as usize) == "_ENV" {
                    "global"
                } else {
                    "field"
                };
                return Some((kind, key));
            }
            Instruction::GetField { b, k, .. } => {
                let key = const_str(p, k as usize).unwrap_or_else(|| "?".into());
                return Some((table_kind(p, pc, b as usize), key));
            }
            Instruction::GetTable { b, c, .. } => {
                let key = register_constant_name(p, pc, c as usize).unwrap_or_else(|| "?".into());
                return Some((table_kind(p, pc, b as usize), key));
            }
            Instruction::GetI { .. } => return Some(("field", "integer index".into())),
            Instruction::GetUpval { up, .. } => {
                return Some(("upvalue", upvalue_name(p, up as usize)))
            }
            Instruction::LoadK { k, .. } => {
                return const_str(p, k as usize).map(|s| ("constant", s));
            }
            Instruction::SelfK { k, .. } => {
                let key = const_str(p, k as usize).unwrap_or_else(|| "?".into());
                return Some(("method", key));
            }
            _ => return None,
        }
    }
    None
}

/// The key name for a register operand: only a string constant counts (PUC's `rname`).
fn register_constant_name(p: &Prototype, pc: usize, reg: usize) -> Option<String> {
    match object_name(p, pc, reg)? {
        ("constant", name) => Some(name),
        _ => None,
    }
}

/// "global" when table register `t` holds `_ENV`, else "field".
fn table_kind(p: &Prototype, pc: usize, t: usize) -> &'static str {
    let name = match local_name_in(p, pc, t) {
        Some(n) => Some(n),
        None => find_set_reg(p, pc, t).and_then(|sp| match p.code[sp] {
            Instruction::GetUpval { up, .. } => Some(upvalue_name(p, up as usize)),
            _ => None,
        }),
    };
    if name.as_deref() == Some("_ENV") {
        "global"
    } else {
        "field"
    }
}

/// `" (local 'x')"`-style suffix for error messages about register `reg` at `pc`, or `""`.
pub fn describe_register(fp: &FunctionProto<'_>, pc: usize, reg: usize) -> String {
    match object_name(&fp.proto, pc, reg) {
        Some((kind, name)) => format!(" ({kind} '{name}')"),
        None => String::new(),
    }
}

/// Suffix for an operand that is a constant (no variable to name).
pub fn describe_constant_operand(_fp: &FunctionProto<'_>, _pc: usize, _which: usize) -> String {
    String::new()
}

/// Suffix for an upvalue operand.
pub fn describe_upvalue(fp: &FunctionProto<'_>, up: usize) -> String {
    format!(" (upvalue '{}')", upvalue_name(&fp.proto, up))
}

fn top_lua_frame<'a, 'gc>(ts: &'a ThreadState<'gc>) -> Option<&'a LuaFrame<'gc>> {
    match ts.frames.last() {
        Some(Frame::Lua(f)) => Some(f),
        _ => None,
    }
}

/// Suffix naming the value being called at slot `func` by the top Lua frame, if that frame
/// is executing a call instruction for that slot.
pub fn describe_call_target(ts: &ThreadState<'_>, func: usize) -> String {
    let Some(f) = top_lua_frame(ts) else {
        return String::new();
    };
    let fp = f.closure.proto();
    let pc = f.pc.saturating_sub(1);
    match fp.proto.code.get(pc) {
        Some(Instruction::Call { a, .. }) | Some(Instruction::TailCall { a, .. })
            if f.base + *a as usize == func =>
        {
            describe_register(fp, pc, *a as usize)
        }
        Some(Instruction::TForCall { a, .. }) if f.base + *a as usize + 4 == func => {
            " (for iterator 'for iterator')".to_string()
        }
        _ => String::new(),
    }
}

/// Name of the function being called by the top Lua frame (for `bad argument` messages):
/// `(name, is_method_call)`.
pub fn calling_name(ts: &ThreadState<'_>) -> Option<(String, bool)> {
    let f = top_lua_frame(ts)?;
    let p = &f.closure.proto().proto;
    let pc = f.pc.checked_sub(1)?;
    match p.code.get(pc)? {
        Instruction::Call { a, .. } | Instruction::TailCall { a, .. } => {
            let (kind, name) = object_name(p, pc, *a as usize)?;
            Some((name, kind == "method"))
        }
        Instruction::TForCall { .. } => Some(("for iterator".into(), false)),
        _ => None,
    }
}

fn current_line(f: &LuaFrame<'_>) -> u32 {
    let p = &f.closure.proto().proto;
    let pc = f.pc.saturating_sub(1);
    p.lines.get(pc).copied().unwrap_or(0)
}

/// `chunk:line: ` of the function at `level` (1 = top frame), or `""` if it is not Lua.
pub fn where_level(ts: &ThreadState<'_>, level: usize) -> String {
    if level == 0 || level > ts.frames.len() {
        return String::new();
    }
    match &ts.frames[ts.frames.len() - level] {
        Frame::Lua(f) => {
            let p = &f.closure.proto().proto;
            format!("{}:{}: ", chunk_id(&p.source), current_line(f))
        }
        Frame::Continuation { .. } => String::new(),
    }
}

/// How the frame at `idx` was called, for tracebacks (`"local 'f'"`, `"function 'g'"`...).
fn frame_description(ts: &ThreadState<'_>, idx: usize) -> String {
    let Frame::Lua(f) = &ts.frames[idx] else {
        return String::new();
    };
    let p = &f.closure.proto().proto;
    if p.line_defined == 0 {
        return "main chunk".into();
    }
    if !f.is_tail && idx > 0 {
        if let Frame::Lua(caller) = &ts.frames[idx - 1] {
            let cp = &caller.closure.proto().proto;
            let pc = caller.pc.saturating_sub(1);
            let named = match cp.code.get(pc) {
                Some(Instruction::Call { a, .. }) => object_name(cp, pc, *a as usize),
                Some(Instruction::TForCall { .. }) => Some(("for iterator", "for iterator".into())),
                _ => None,
            };
            if let Some((kind, name)) = named {
                return match kind {
                    "global" => format!("function '{name}'"),
                    "constant" => format!("function <{}:{}>", chunk_id(&p.source), p.line_defined),
                    _ => format!("{kind} '{name}'"),
                };
            }
        }
    }
    format!("function <{}:{}>", chunk_id(&p.source), p.line_defined)
}

/// A PUC-style traceback of the thread's frames, innermost first.
pub fn traceback(ts: &ThreadState<'_>) -> String {
    let mut out = String::from("stack traceback:");
    let n = ts.frames.len();
    let mut lines = Vec::new();
    for idx in (0..n).rev() {
        match &ts.frames[idx] {
            Frame::Lua(f) => {
                let p = &f.closure.proto().proto;
                lines.push(format!(
                    "\n\t{}:{}: in {}",
                    chunk_id(&p.source),
                    current_line(f),
                    frame_description(ts, idx)
                ));
                if f.is_tail {
                    lines.push("\n\t(...tail calls...)".into());
                }
            }
            Frame::Continuation { callee_name, .. } => {
                lines.push(format!("\n\t[C]: in function '{callee_name}'"));
            }
        }
    }
    if lines.len() > 22 {
        let skipped = lines.len() - 21;
        let tail: Vec<String> = lines.split_off(lines.len() - 11);
        lines.truncate(10);
        lines.push(format!("\n\t...\t(skipping {skipped} levels)"));
        lines.extend(tail);
    }
    for l in lines {
        out.push_str(&l);
    }
    out.push_str("\n\t[C]: in ?");
    out
}
