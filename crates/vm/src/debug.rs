//! Debug information derived from bytecode: variable names for error messages (PUC's
//! `getobjname`/`funcnamefromcode` facts, reimplemented on lunette's instruction set),
//! positions (`luaL_where`) and tracebacks.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::Arc;

use lunette_compiler::{Constant, Instruction, Prototype};

use crate::error::{Message, Part};
use crate::function::FunctionProto;
use crate::thread::{Frame, LuaFrame, Returns, ThreadState};
use crate::value::Value;

/// A name's bytes as message text (invalid UTF-8 replaced); valid text is checked by the
/// fast validator first (the replacing scan took 30% of a message quoting an 8 MiB name).
fn text_of(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// A variable's name as the bytecode gives it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Name<'p> {
    /// String constant `k` (the function's constant of that index is its Lua string).
    Constant(usize, &'p [u8]),
    /// A local's or an upvalue's debug name (a buffer shared with the prototype).
    Debug(&'p Arc<[u8]>),
    /// Fixed text (`?`, `integer index`, `for iterator`, a metamethod's event).
    Fixed(&'static str),
}

impl<'p> Name<'p> {
    fn bytes(self) -> &'p [u8] {
        match self {
            Name::Constant(_, b) => b,
            Name::Debug(b) => b,
            Name::Fixed(t) => t.as_bytes(),
        }
    }

    /// The name as text (invalid UTF-8 replaced).
    pub(crate) fn text(self) -> String {
        text_of(self.bytes())
    }

    /// The name as a part of an error message (see `Error::Message`), a C string like
    /// PUC's (cut at a zero byte): a constant is its Lua string, quoted without a copy; a
    /// debug name (which cannot hold a zero byte) is its shared buffer when long, copied
    /// when short.
    pub(crate) fn part<'gc>(self, fp: &FunctionProto<'gc>) -> Part<'gc> {
        match self {
            Name::Constant(k, bytes) => match fp.constants.get(k) {
                Some(&Value::String(s)) => Part::c_string(s),
                _ => Part::Text(Cow::Owned(bytes.to_vec())),
            },
            Name::Debug(bytes) if bytes.len() > crate::big_string::BUILD_IN_PIECES => {
                Part::Shared(bytes.clone())
            }
            Name::Debug(bytes) => Part::Text(Cow::Owned(bytes.to_vec())),
            Name::Fixed(t) => Part::fixed(t),
        }
    }
}

/// The name of the `reg`-th active local at `pc` (registers are allocated to locals in
/// order) as a message part (`?` when there is none).
pub(crate) fn local_name_part<'gc>(fp: &FunctionProto<'gc>, pc: usize, reg: usize) -> Part<'gc> {
    local_name_in(&fp.proto, pc, reg)
        .map_or(Name::Fixed("?"), Name::Debug)
        .part(fp)
}

fn local_name_in(p: &Prototype, pc: usize, reg: usize) -> Option<&Arc<[u8]>> {
    let mut n = 0;
    for lv in &p.local_vars {
        if lv.start_pc as usize > pc {
            break;
        }
        if pc < lv.end_pc as usize {
            if n == reg {
                return Some(&lv.name);
            }
            n += 1;
        }
    }
    None
}

fn const_name(p: &Prototype, k: usize) -> Option<Name<'_>> {
    match p.constants.get(k) {
        Some(Constant::String(s)) => Some(Name::Constant(k, s)),
        _ => None,
    }
}

fn upvalue_name(p: &Prototype, up: usize) -> Name<'_> {
    p.upvalues
        .get(up)
        .map_or(Name::Fixed("?"), |u| Name::Debug(&u.name))
}

/// The registers written by an instruction, as a range `first..=last`.
fn written_registers(ins: Instruction) -> Option<(usize, usize)> {
    use Instruction::*;
    match ins {
        SelfK { a, .. } => Some((a as usize, a as usize + 1)),
        LoadNil { a, n } => Some((a as usize, a as usize + n as usize)),
        ForPrep { a, .. } | ForLoop { a, .. } => Some((a as usize, a as usize + 3)),
        VarArg { a, .. } | Call { a, .. } | TailCall { a, .. } => Some((a as usize, usize::MAX)),
        TForCall { a, .. } => Some((a as usize + 2, usize::MAX)),
        TestSet { a, .. } => Some((a as usize, a as usize)),
        other => other.result_register().map(|a| (a as usize, a as usize)),
    }
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
pub(crate) fn object_name(
    p: &Prototype,
    lastpc: usize,
    reg: usize,
) -> Option<(&'static str, String)> {
    object_name_ref(p, lastpc, reg).map(|(kind, name)| (kind, name.text()))
}

/// [`object_name`] with the name as the bytecode gives it (PUC's `getobjname`).
pub(crate) fn object_name_ref(
    p: &Prototype,
    lastpc: usize,
    reg: usize,
) -> Option<(&'static str, Name<'_>)> {
    let mut reg = reg;
    let mut lastpc = lastpc;
    let unknown = Name::Fixed("?");
    // Follows `Move` chains iteratively.
    for _ in 0..256 {
        if let Some(name) = local_name_in(p, lastpc, reg) {
            return Some(("local", Name::Debug(name)));
        }
        let pc = find_set_reg(p, lastpc, reg)?;
        match p.code[pc] {
            Instruction::Move { a, b } if b < a => {
                reg = b as usize;
                lastpc = pc;
                continue;
            }
            Instruction::GetTabUp { up, k, .. } => {
                let key = const_name(p, k as usize).unwrap_or(unknown);
                let kind = if upvalue_name(p, up as usize).bytes() == b"_ENV" {
                    "global"
                } else {
                    "field"
                };
                return Some((kind, key));
            }
            Instruction::GetField { b, k, .. } => {
                let key = const_name(p, k as usize).unwrap_or(unknown);
                return Some((table_kind(p, pc, b as usize), key));
            }
            Instruction::GetTable { b, c, .. } => {
                let key = register_constant_name(p, pc, c as usize).unwrap_or(unknown);
                return Some((table_kind(p, pc, b as usize), key));
            }
            Instruction::GetI { .. } => return Some(("field", Name::Fixed("integer index"))),
            Instruction::GetUpval { up, .. } => {
                return Some(("upvalue", upvalue_name(p, up as usize)))
            }
            Instruction::LoadK { k, .. } => {
                return const_name(p, k as usize).map(|s| ("constant", s));
            }
            Instruction::SelfK { k, .. } => {
                let key = const_name(p, k as usize).unwrap_or(unknown);
                return Some(("method", key));
            }
            _ => return None,
        }
    }
    None
}

/// The key name for a register operand: only a string constant counts (PUC's `rname`).
fn register_constant_name(p: &Prototype, pc: usize, reg: usize) -> Option<Name<'_>> {
    match object_name_ref(p, pc, reg)? {
        ("constant", name) => Some(name),
        _ => None,
    }
}

/// "global" when table register `t` holds `_ENV`, else "field".
fn table_kind(p: &Prototype, pc: usize, t: usize) -> &'static str {
    let name = match local_name_in(p, pc, t) {
        Some(n) => Some(&n[..]),
        None => find_set_reg(p, pc, t).and_then(|sp| match p.code[sp] {
            Instruction::GetUpval { up, .. } => Some(upvalue_name(p, up as usize).bytes()),
            _ => None,
        }),
    };
    if name == Some(&b"_ENV"[..]) {
        "global"
    } else {
        "field"
    }
}

/// `" (local 'x')"`-style suffix for error messages about register `reg` at `pc`, or
/// nothing.
pub(crate) fn describe_register<'gc>(
    fp: &FunctionProto<'gc>,
    pc: usize,
    reg: usize,
) -> Message<'gc> {
    match object_name_ref(&fp.proto, pc, reg) {
        Some((kind, name)) => described(kind, name.part(fp)),
        None => Message::new(),
    }
}

/// `" (kind 'name')"`.
fn described<'gc>(kind: &'static str, name: Part<'gc>) -> Message<'gc> {
    Message::new()
        .text(" (")
        .text(kind)
        .text(" '")
        .part(name)
        .text("')")
}

/// Suffix for an upvalue operand.
pub(crate) fn describe_upvalue<'gc>(fp: &FunctionProto<'gc>, up: usize) -> Message<'gc> {
    described("upvalue", upvalue_name(&fp.proto, up).part(fp))
}

fn top_lua_frame<'a, 'gc>(ts: &'a ThreadState<'gc>) -> Option<&'a LuaFrame<'gc>> {
    match ts.frames.last() {
        Some(Frame::Lua(f)) => Some(f),
        _ => None,
    }
}

/// Suffix naming the value being called at slot `func` by the top Lua frame, if that frame
/// is executing a call instruction for that slot or an instruction that calls a metamethod.
pub(crate) fn describe_call_target<'gc>(ts: &ThreadState<'gc>, func: usize) -> Message<'gc> {
    let Some(f) = top_lua_frame(ts) else {
        return Message::new();
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
            Message::new().text(" (for iterator 'for iterator')")
        }
        // The top frame is a Lua frame at an instruction that calls a metamethod, so the
        // value called is that metamethod (PUC's `funcnamefromcall`: `(metamethod 'add')`).
        Some(i) => metamethod_name(i)
            .map(|n| described("metamethod", Part::fixed(n)))
            .unwrap_or_default(),
        None => Message::new(),
    }
}

/// Name of the function being called by the top Lua frame (for `bad argument` messages):
/// `(name, is_method_call)`.
pub(crate) fn calling_name(ts: &ThreadState<'_>) -> Option<(String, bool)> {
    calling_name_part(ts).map(|(name, is_method)| {
        (
            String::from_utf8_lossy(name.bytes()).into_owned(),
            is_method,
        )
    })
}

/// [`calling_name`] as a message part (a constant's Lua string: a global function named
/// by megabytes is quoted without a copy).
pub(crate) fn calling_name_part<'gc>(ts: &ThreadState<'gc>) -> Option<(Part<'gc>, bool)> {
    let f = top_lua_frame(ts)?;
    let fp = f.closure.proto();
    let p = &fp.proto;
    let pc = f.pc.checked_sub(1)?;
    match p.code.get(pc)? {
        Instruction::Call { a, .. } | Instruction::TailCall { a, .. } => {
            let (kind, name) = object_name_ref(p, pc, *a as usize)?;
            Some((name.part(fp), kind == "method"))
        }
        Instruction::TForCall { .. } => Some((Part::fixed("for iterator"), false)),
        // A metamethod called by the instruction (PUC's `funcnamefromcode`: "metamethod").
        i => metamethod_name(i).map(|n| (Part::fixed(n), false)),
    }
}

/// The event (without `__`) of the metamethod an instruction calls, like PUC names it.
fn metamethod_name(i: &Instruction) -> Option<&'static str> {
    use Instruction as I;
    Some(match i {
        I::SelfK { .. } | I::GetTabUp { .. } | I::GetTable { .. } | I::GetI { .. } => "index",
        I::GetField { .. } => "index",
        I::SetTabUp { .. } | I::SetTable { .. } | I::SetI { .. } | I::SetField { .. } => "newindex",
        I::Add { .. } | I::AddI { .. } | I::AddK { .. } => "add",
        I::Sub { .. } | I::SubK { .. } => "sub",
        I::Mul { .. } | I::MulK { .. } => "mul",
        I::Mod { .. } | I::ModK { .. } => "mod",
        I::Pow { .. } | I::PowK { .. } => "pow",
        I::Div { .. } | I::DivK { .. } => "div",
        I::IDiv { .. } | I::IDivK { .. } => "idiv",
        I::BAnd { .. } | I::BAndK { .. } => "band",
        I::BOr { .. } | I::BOrK { .. } => "bor",
        I::BXor { .. } | I::BXorK { .. } => "bxor",
        I::Shl { .. } | I::ShlI { .. } => "shl",
        I::Shr { .. } | I::ShrI { .. } => "shr",
        I::Unm { .. } => "unm",
        I::BNot { .. } => "bnot",
        I::Len { .. } => "len",
        I::Concat { .. } => "concat",
        I::Eq { .. } | I::EqK { .. } | I::EqI { .. } => "eq",
        I::Lt { .. } | I::LtI { .. } | I::GtI { .. } => "lt",
        I::Le { .. } | I::LeI { .. } | I::GeI { .. } => "le",
        I::Close { .. } | I::Return { .. } => "close",
        _ => return None,
    })
}

fn current_line(f: &LuaFrame<'_>) -> u32 {
    let p = &f.closure.proto().proto;
    let pc = f.pc.saturating_sub(1);
    p.lines.get(pc).copied().unwrap_or(0)
}

/// `chunk:line: ` of the function at `level` (1 = top frame), or `""` if it is not Lua.
pub(crate) fn where_level(ts: &ThreadState<'_>, level: usize) -> String {
    let Some(idx) = level_index(ts, level) else {
        return String::new();
    };
    match &ts.frames[idx] {
        Frame::Lua(f) => {
            let p = &f.closure.proto().proto;
            format!("{}:{}: ", p.short_source, current_line(f))
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
    if idx > 0 && crate::hook::is_hook_caller(&ts.frames[idx - 1]) {
        return "hook '?'".into();
    }
    if !f.is_tail && idx > 0 {
        if let Frame::Lua(caller) = &ts.frames[idx - 1] {
            let cp = &caller.closure.proto().proto;
            let pc = caller.pc.saturating_sub(1);
            let named = match cp.code.get(pc) {
                Some(Instruction::Call { a, .. }) => object_name(cp, pc, *a as usize),
                Some(Instruction::TForCall { .. }) => Some(("for iterator", "for iterator".into())),
                // Called by an operator or an index: PUC's "metamethod 'add'".
                Some(i) if f.returns == Returns::Meta => {
                    metamethod_name(i).map(|n| ("metamethod", n.to_string()))
                }
                _ => None,
            };
            if let Some((kind, name)) = named {
                return match kind {
                    "global" => format!("function '{name}'"),
                    "constant" => format!("function <{}:{}>", p.short_source, p.line_defined),
                    _ => format!("{kind} '{name}'"),
                };
            }
        }
    }
    format!("function <{}:{}>", p.short_source, p.line_defined)
}

/// The base library's functions: with the qualified names of the other libraries'
/// functions (`string.rep`), the names PUC's traceback finds in `package.loaded`.
const BASE_FUNCTIONS: &[&str] = &[
    "assert",
    "collectgarbage",
    "dofile",
    "error",
    "getmetatable",
    "ipairs",
    "load",
    "loadfile",
    "next",
    "pairs",
    "pcall",
    "print",
    "rawequal",
    "rawget",
    "rawlen",
    "rawset",
    "require",
    "select",
    "setmetatable",
    "tonumber",
    "tostring",
    "type",
    "warn",
    "xpcall",
];

/// How a traceback names the Rust function of frame `idx`, like PUC's `luaL_traceback` names
/// a C function: a library function by its name in `package.loaded` (`function
/// 'string.rep'`), any other one (a `coroutine.wrap` function, an iterator, a file method,
/// the string metatable's `__add`) by the Lua code that called it (`local 'gen'`, `for
/// iterator 'for iterator'`, `method 'read'`, `metamethod 'add'`), else `?`.
///
/// A non-library Rust function held by a loaded module (a `coroutine.wrap` function in a
/// global) is named by that global name, like PUC's, when its frame still has it below its
/// region (`stack[base - 1]`: its call slot, as for every Rust function waiting on a call).
fn rust_frame_description(
    ts: &ThreadState<'_>,
    idx: usize,
    callee_name: &str,
    names: &GlobalNames,
) -> String {
    if callee_name.contains('.') || BASE_FUNCTIONS.contains(&callee_name) {
        return format!("function '{callee_name}'");
    }
    if let Frame::Continuation { base, .. } = &ts.frames[idx] {
        let slot = base.checked_sub(1).and_then(|i| ts.stack.get(i));
        if let Some(Value::Callback(c)) = slot {
            if let Some(name) = names.name_of(c.id()) {
                return format!("function '{name}'");
            }
        }
    }
    if let Some(Frame::Lua(caller)) = idx.checked_sub(1).map(|i| &ts.frames[i]) {
        let cp = &caller.closure.proto().proto;
        let pc = caller.pc.saturating_sub(1);
        let named = match cp.code.get(pc) {
            Some(Instruction::Call { a, .. }) | Some(Instruction::TailCall { a, .. }) => {
                object_name(cp, pc, *a as usize)
            }
            Some(Instruction::TForCall { .. }) => Some(("for iterator", "for iterator".into())),
            Some(i) => metamethod_name(i).map(|n| ("metamethod", n.to_string())),
            None => None,
        };
        match named {
            Some(("global", name)) => return format!("function '{name}'"),
            Some(("constant", _)) | None => {}
            Some((kind, name)) => return format!("{kind} '{name}'"),
        }
    }
    "?".into()
}

/// Most entries of the loaded modules (`registry._LOADED` and the tables it holds) a
/// traceback looks at to find functions' global names: PUC's `pushglobalfuncname` looks at
/// all of them for every level; lunette looks once a traceback and stops there, so a
/// traceback's work is bounded whatever the size of `_G` (a function past the bound is named
/// by its caller's code instead).
pub const GLOBAL_NAME_ENTRIES: usize = 4096;

/// Entries of the loaded modules looked at per unit of fuel a traceback charges (each is a
/// table step and, for a function, a map insertion: tens of nanoseconds).
pub(crate) const GLOBAL_NAME_ENTRIES_PER_UNIT: usize = 4;

/// The functions reachable as `module.field` from the loaded modules, with the name PUC's
/// `luaL_traceback` gives them (`mymod.f`; `_G.f` is `f`): the first found in traversal
/// order, entries looked at at most [`GLOBAL_NAME_ENTRIES`]. Names are kept as the strings
/// they are made of and put together only for the levels a traceback shows.
pub(crate) struct GlobalNames<'gc> {
    /// Function object id → its name's parts (a multiplicative hash of the id: a traceback
    /// collects a few hundred of them, and SipHash was a fifth of an error's cost).
    functions: hashbrown::HashMap<u64, GlobalName<'gc>, IdHash>,
    /// Entries looked at (the work done, for the caller to charge).
    pub(crate) looked_at: usize,
}

type IdHash = std::hash::BuildHasherDefault<lunette_gc_snapshot::AddressHasher>;

/// A function's global name, in parts.
#[derive(Clone, Copy)]
enum GlobalName<'gc> {
    /// `package.loaded[module]` itself (a module that is a function).
    Module(crate::LuaString<'gc>),
    /// A field of `_G`.
    Global(crate::LuaString<'gc>),
    /// `module.field`.
    Field(crate::LuaString<'gc>, crate::LuaString<'gc>),
}

impl<'gc> GlobalNames<'gc> {
    /// No names: every function is named by its caller's code.
    pub(crate) fn none() -> Self {
        GlobalNames {
            functions: Default::default(),
            looked_at: 0,
        }
    }

    /// Collects the names from `registry._LOADED` (two levels, like PUC's `findfield`).
    pub(crate) fn collect(ctx: crate::Context<'gc>) -> Self {
        let mut names = GlobalNames::none();
        let Value::Table(loaded) = ctx.registry().get(ctx.key("_LOADED")) else {
            return names;
        };
        names.functions.reserve(256);
        let mut key = Value::Nil;
        while let Ok(Some((k, v))) = loaded.next(key) {
            key = k;
            names.looked_at += 1;
            if names.looked_at > GLOBAL_NAME_ENTRIES {
                break;
            }
            let Value::String(module) = k else { continue };
            match v {
                Value::Function(_) | Value::Callback(_) => {
                    names.add(v.object_id().unwrap_or(0), GlobalName::Module(module))
                }
                Value::Table(t) => {
                    let global = module.as_bytes() == b"_G";
                    let mut field = Value::Nil;
                    while let Ok(Some((fk, fv))) = t.next(field) {
                        field = fk;
                        names.looked_at += 1;
                        if names.looked_at > GLOBAL_NAME_ENTRIES {
                            break;
                        }
                        if let (Value::String(name), true) = (fk, fv.is_function()) {
                            let id = fv.object_id().unwrap_or(0);
                            names.add(
                                id,
                                if global {
                                    GlobalName::Global(name)
                                } else {
                                    GlobalName::Field(module, name)
                                },
                            );
                        }
                    }
                }
                _ => {}
            }
        }
        names
    }

    /// The fuel units the collection's work is worth.
    pub(crate) fn cost(&self) -> usize {
        self.looked_at / GLOBAL_NAME_ENTRIES_PER_UNIT
    }

    fn add(&mut self, id: u64, name: GlobalName<'gc>) {
        self.functions.entry(id).or_insert(name);
    }

    fn name_of(&self, id: u64) -> Option<String> {
        Some(match *self.functions.get(&id)? {
            GlobalName::Module(m) | GlobalName::Global(m) => m.to_str_lossy().into_owned(),
            GlobalName::Field(m, f) => format!("{}.{}", m.to_str_lossy(), f.to_str_lossy()),
        })
    }
}

/// A PUC-style traceback of the thread's frames, innermost first.
pub(crate) fn traceback(ts: &ThreadState<'_>, names: &GlobalNames) -> String {
    traceback_skipping(ts, 0, true, names)
}

/// A traceback without the `skip` innermost frames; `host_line` adds the final `[C]: in ?`.
/// A Lua function found in `names` is named by its global name, like PUC's.
pub(crate) fn traceback_skipping(
    ts: &ThreadState<'_>,
    skip: usize,
    host_line: bool,
    names: &GlobalNames,
) -> String {
    // Like PUC's `luaL_traceback`, a traceback of more than `FIRST + LAST + 1` levels shows
    // its first `FIRST` and last `LAST` levels (a tail-call marker belongs to its level's
    // line, and the host's `[C]: in ?` is a level), and says it skips "levels - 22" (PUC's
    // count, one less than the levels left out). Levels are counted first and only the
    // shown ones are formatted: a traceback of 200,000 frames costs a cheap pass over them.
    const FIRST: usize = 10;
    const LAST: usize = 11;
    // `skip` levels: hidden frames (a hook's) are neither levels nor shown.
    let n = match skip {
        0 => ts.frames.len(),
        _ => level_index(ts, skip).unwrap_or(0),
    };
    let has_level = |idx: usize| match &ts.frames[idx] {
        f if crate::hook::is_hidden(f) => false,
        Frame::Lua(_) => true,
        Frame::Continuation { callee_name, .. } => {
            !crate::executor::is_preemption_frame(callee_name)
        }
    };
    let levels = (0..n).filter(|&idx| has_level(idx)).count() + usize::from(host_line);
    let skipping = levels > FIRST + LAST + 1;
    let shown = |level: usize| !skipping || level < FIRST || level >= levels - LAST;
    let mut out = String::from("stack traceback:");
    let frames = (0..n).rev().filter(|&idx| has_level(idx));
    for (level, idx) in frames.enumerate() {
        if skipping && level == FIRST {
            let _ = write!(
                out,
                "\n\t...\t(skipping {} levels)",
                levels - FIRST - LAST - 1
            );
        }
        if !shown(level) {
            continue;
        }
        match &ts.frames[idx] {
            Frame::Lua(f) => {
                let p = &f.closure.proto().proto;
                let description = match names.name_of(f.closure.id()) {
                    Some(name) => format!("function '{name}'"),
                    None => frame_description(ts, idx),
                };
                let _ = write!(
                    out,
                    "\n\t{}:{}: in {}",
                    p.short_source,
                    current_line(f),
                    description
                );
                if f.is_tail {
                    out.push_str("\n\t(...tail calls...)");
                }
            }
            Frame::Continuation { callee_name, .. } => {
                let _ = write!(
                    out,
                    "\n\t[C]: in {}",
                    rust_frame_description(ts, idx, callee_name, names)
                );
            }
        }
    }
    if host_line {
        out.push_str("\n\t[C]: in ?");
    }
    out
}

// ---------------------------------------------------------------------------------------
// Introspection for the `debug` library (stack levels, locals, upvalues). Level 1 is the
// frame on top of the inspected thread's frame stack: for the running thread, the function
// that called the Rust callback asking (a running callback has no frame of its own).

/// What `debug.getinfo` can learn about one active stack level.
pub struct LevelInfo<'gc> {
    /// The Lua function running at that level; `None` for a Rust function waiting there.
    pub function: Option<crate::function::LuaClosure<'gc>>,
    /// The Rust function's qualified name, for levels that are Rust functions.
    pub callback_name: Option<&'static str>,
    /// The line being executed (Lua levels).
    pub current_line: Option<u32>,
    /// Whether the level was entered by a tail call.
    pub is_tail: bool,
    /// `(namewhat, name)` of the called function as its caller's code names it.
    pub name: Option<(&'static str, String)>,
}

fn with_thread_state<'gc, R>(
    exec: &crate::executor::Exec<'gc, '_>,
    thread: Option<crate::thread::Thread<'gc>>,
    f: impl FnOnce(&ThreadState<'gc>) -> R,
) -> Option<R> {
    match thread {
        Some(t) if !crate::thread::Thread::ptr_eq(t, exec.thread) => {
            let ts = t.0.state.try_borrow().ok()?;
            Some(f(&ts))
        }
        _ => Some(f(exec.ts)),
    }
}

/// The frame of stack `level` (1 = top frame); hidden frames (`hook::is_hidden`) are not
/// levels.
fn level_index(ts: &ThreadState<'_>, level: usize) -> Option<usize> {
    if level == 0 || level > ts.frames.len() {
        return None;
    }
    let top = ts.frames.len() - level;
    if !ts.frames[top..].iter().any(crate::hook::is_hidden) {
        return Some(top);
    }
    (0..ts.frames.len())
        .rev()
        .filter(|&i| !crate::hook::is_hidden(&ts.frames[i]))
        .nth(level - 1)
}

/// `(namewhat, name)` of the function running in frame `idx`, from its caller's call site.
fn frame_name(ts: &ThreadState<'_>, idx: usize) -> Option<(&'static str, String)> {
    match &ts.frames[idx] {
        Frame::Lua(f) if f.is_tail => return None,
        _ => {}
    }
    if idx == 0 {
        return None;
    }
    if crate::hook::is_hook_caller(&ts.frames[idx - 1]) {
        return Some(("hook", "?".into()));
    }
    let Frame::Lua(caller) = &ts.frames[idx - 1] else {
        return None;
    };
    let cp = &caller.closure.proto().proto;
    let pc = caller.pc.checked_sub(1)?;
    let returns = match &ts.frames[idx] {
        Frame::Lua(f) => f.returns,
        Frame::Continuation { returns, .. } => *returns,
    };
    match cp.code.get(pc)? {
        // Called by an operator or an index: PUC's `metamethod 'index'`.
        i if returns == Returns::Meta => metamethod_name(i).map(|n| ("metamethod", n.into())),
        Instruction::Call { a, .. } | Instruction::TailCall { a, .. } => {
            object_name(cp, pc, *a as usize)
        }
        Instruction::TForCall { .. } => Some(("for iterator", "for iterator".into())),
        _ => None,
    }
}

/// The first stack slot past frame `idx`'s registers that belongs to the next call.
fn frame_limit(ts: &ThreadState<'_>, idx: usize, top_limit: usize) -> usize {
    match ts.frames.get(idx + 1) {
        Some(Frame::Lua(next)) => next.func,
        Some(Frame::Continuation { base, .. }) => base.saturating_sub(1),
        None => top_limit,
    }
}

/// Where local `n` of Lua frame `idx` lives: `(name, slot)`, PUC's `luaG_findlocal`.
fn find_local(
    ts: &ThreadState<'_>,
    idx: usize,
    n: i64,
    top_limit: usize,
) -> Option<(String, usize)> {
    let Frame::Lua(f) = &ts.frames[idx] else {
        // The `[C]` frame a coroutine that died by a Rust function's error keeps (its top
        // frame): the values that function left, like PUC's `(C temporary)`. (Other Rust
        // levels list none: their stack is not PUC's.)
        return match &ts.frames[idx] {
            Frame::Continuation { base, .. }
                if ts.status == crate::thread::ThreadStatus::Dead
                    && idx + 1 == ts.frames.len()
                    && n > 0
                    && top_limit.saturating_sub(*base) >= n as usize =>
            {
                Some(("(C temporary)".into(), base + n as usize - 1))
            }
            _ => None,
        };
    };
    let p = &f.closure.proto().proto;
    if n < 0 {
        let k = n.unsigned_abs() as usize;
        if p.is_vararg && k <= f.num_varargs {
            return Some(("(vararg)".into(), f.base - f.num_varargs + (k - 1)));
        }
        return None;
    }
    if n == 0 {
        return None;
    }
    let reg = n as usize - 1;
    if let Some(name) = local_name_in(p, f.pc.saturating_sub(1), reg) {
        return Some((text_of(name), f.base + reg));
    }
    let limit = frame_limit(ts, idx, top_limit);
    if limit >= f.base && limit - f.base >= n as usize {
        return Some(("(temporary)".into(), f.base + reg));
    }
    None
}

impl<'gc> crate::executor::Exec<'gc, '_> {
    /// Information about stack `level` (>= 1) of `thread` (default: the running thread).
    pub fn level_info(
        &self,
        thread: Option<crate::thread::Thread<'gc>>,
        level: usize,
    ) -> Option<LevelInfo<'gc>> {
        with_thread_state(self, thread, |ts| {
            let idx = level_index(ts, level)?;
            let name = frame_name(ts, idx);
            Some(match &ts.frames[idx] {
                Frame::Lua(f) => LevelInfo {
                    function: Some(f.closure),
                    callback_name: None,
                    current_line: Some(current_line(f)),
                    is_tail: f.is_tail,
                    name,
                },
                Frame::Continuation { callee_name, .. } => LevelInfo {
                    function: None,
                    callback_name: Some(callee_name),
                    current_line: None,
                    is_tail: false,
                    name,
                },
            })
        })
        .flatten()
    }

    /// `(namewhat, name)` of the running callback, from the call site that called it.
    pub fn running_callback_name(&self) -> Option<(String, bool)> {
        calling_name(self.ts)
    }

    /// Number of active levels of `thread` (the running thread by default).
    pub fn level_count(&self, thread: Option<crate::thread::Thread<'gc>>) -> usize {
        with_thread_state(self, thread, |ts| {
            ts.frames
                .iter()
                .filter(|f| !crate::hook::is_hidden(f))
                .count()
        })
        .unwrap_or(0)
    }

    /// A PUC-style traceback of `thread` starting at `level` (1 = top frame). The final
    /// `[C]: in ?` line (the host's call) is added when `host_line` is set. Lua functions
    /// held by the loaded modules are named by their global names (`function 'mymod.f'`),
    /// like PUC's; looking for them is charged (a unit per
    /// `GLOBAL_NAME_ENTRIES_PER_UNIT` entries looked at, at most [`GLOBAL_NAME_ENTRIES`]).
    pub fn traceback_from(
        &mut self,
        ctx: crate::Context<'gc>,
        thread: Option<crate::thread::Thread<'gc>>,
        level: usize,
        host_line: bool,
    ) -> String {
        let names = GlobalNames::collect(ctx);
        self.charge(names.cost());
        with_thread_state(self, thread, |ts| {
            traceback_skipping(ts, level.saturating_sub(1), host_line, &names)
        })
        .unwrap_or_else(|| "stack traceback:".into())
    }

    /// Name and value of local `n` at `level` (negative `n`: varargs), like `lua_getlocal`.
    pub fn get_local(
        &self,
        thread: Option<crate::thread::Thread<'gc>>,
        level: usize,
        n: i64,
    ) -> Option<(String, crate::value::Value<'gc>)> {
        let top_limit = self.base.saturating_sub(1);
        let cur = match thread {
            Some(t) => crate::thread::Thread::ptr_eq(t, self.thread),
            None => true,
        };
        with_thread_state(self, thread, |ts| {
            let idx = level_index(ts, level)?;
            let limit = if cur { top_limit } else { ts.stack.len() };
            let (name, slot) = find_local(ts, idx, n, limit)?;
            Some((name, ts.stack.get(slot).copied().unwrap_or_default()))
        })
        .flatten()
    }

    /// Sets local `n` at `level` of the running thread; returns its name (`lua_setlocal`).
    pub fn set_local(
        &mut self,
        level: usize,
        n: i64,
        v: crate::value::Value<'gc>,
    ) -> Option<String> {
        let top_limit = self.base.saturating_sub(1);
        let idx = level_index(self.ts, level)?;
        let (name, slot) = find_local(self.ts, idx, n, top_limit)?;
        if let Some(s) = self.ts.stack.get_mut(slot) {
            *s = v;
        }
        Some(name)
    }

    /// The current value of an upvalue (open ones are read from their thread's stack).
    pub fn upvalue_value(&self, uv: crate::function::UpValue<'gc>) -> crate::value::Value<'gc> {
        use crate::function::UpValueState;
        match uv.get() {
            UpValueState::Closed(v) => v,
            UpValueState::Open { thread, slot } => {
                if crate::thread::Thread::ptr_eq(thread, self.thread) {
                    self.ts.stack.get(slot).copied().unwrap_or_default()
                } else {
                    thread
                        .0
                        .state
                        .try_borrow()
                        .ok()
                        .and_then(|ts| ts.stack.get(slot).copied())
                        .unwrap_or_default()
                }
            }
        }
    }

    /// Assigns an upvalue (open ones are written in their thread's stack).
    pub fn set_upvalue_value(
        &mut self,
        ctx: crate::state::Context<'gc>,
        uv: crate::function::UpValue<'gc>,
        v: crate::value::Value<'gc>,
    ) {
        use crate::function::UpValueState;
        match uv.get() {
            UpValueState::Closed(_) => {
                crate::function::set_upvalue(ctx, uv, UpValueState::Closed(v))
            }
            UpValueState::Open { thread, slot } => {
                if crate::thread::Thread::ptr_eq(thread, self.thread) {
                    if let Some(s) = self.ts.stack.get_mut(slot) {
                        *s = v;
                    }
                } else if let Some(mut other) = thread.try_borrow_mut(ctx) {
                    if let Some(s) = other.stack.get_mut(slot) {
                        *s = v;
                    }
                }
            }
        }
    }
}
