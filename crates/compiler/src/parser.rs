//! The parser: a recursive-descent parser for Lua 5.4 that generates code on the fly
//! (single pass, like PUC's lparser.c).
//!
//! Recursion depth is bounded: every statement, sub-expression and extra assignment target
//! counts one "C level", limited to [`MAX_LEVELS`] (error "C stack overflow", like PUC).
//! Left-associative binary operator chains are parsed iteratively.

use std::sync::Arc;

use crate::code::{BinOp, CResult, UnOp};
use crate::error::CompileError;
use crate::func_state::*;
use crate::lexer::{Lexer, StrId, Tok, Token};
use crate::opcode::{ArithOp, Instruction};
use crate::proto::{LocalVar, Prototype, UpvalueDesc};

/// Maximum nesting of statements/expressions (PUC's `LUAI_MAXCCALLS`).
pub(crate) const MAX_LEVELS: u32 = 200;

const UNARY_PRIORITY: u8 = 12;

/// (left, right) priorities of binary operators.
fn priority(op: BinOp) -> (u8, u8) {
    match op {
        BinOp::Arith(ArithOp::Add | ArithOp::Sub) => (10, 10),
        BinOp::Arith(ArithOp::Mul | ArithOp::Mod | ArithOp::Div | ArithOp::IDiv) => (11, 11),
        BinOp::Arith(ArithOp::Pow) => (14, 13),
        BinOp::Arith(ArithOp::BAnd) => (6, 6),
        BinOp::Arith(ArithOp::BOr) => (4, 4),
        BinOp::Arith(ArithOp::BXor) => (5, 5),
        BinOp::Arith(ArithOp::Shl | ArithOp::Shr) => (7, 7),
        // (Never binary: `binop` makes no such operator.)
        BinOp::Arith(ArithOp::Unm | ArithOp::BNot) => (UNARY_PRIORITY, UNARY_PRIORITY),
        BinOp::Concat => (9, 8),
        BinOp::Eq | BinOp::Lt | BinOp::Le | BinOp::Ne | BinOp::Gt | BinOp::Ge => (3, 3),
        BinOp::And => (2, 2),
        BinOp::Or => (1, 1),
    }
}

fn binop(t: Tok) -> Option<BinOp> {
    Some(match t {
        Tok::Char(b'+') => BinOp::Arith(ArithOp::Add),
        Tok::Char(b'-') => BinOp::Arith(ArithOp::Sub),
        Tok::Char(b'*') => BinOp::Arith(ArithOp::Mul),
        Tok::Char(b'%') => BinOp::Arith(ArithOp::Mod),
        Tok::Char(b'^') => BinOp::Arith(ArithOp::Pow),
        Tok::Char(b'/') => BinOp::Arith(ArithOp::Div),
        Tok::IDiv => BinOp::Arith(ArithOp::IDiv),
        Tok::Char(b'&') => BinOp::Arith(ArithOp::BAnd),
        Tok::Char(b'|') => BinOp::Arith(ArithOp::BOr),
        Tok::Char(b'~') => BinOp::Arith(ArithOp::BXor),
        Tok::Shl => BinOp::Arith(ArithOp::Shl),
        Tok::Shr => BinOp::Arith(ArithOp::Shr),
        Tok::Concat => BinOp::Concat,
        Tok::Ne => BinOp::Ne,
        Tok::Eq => BinOp::Eq,
        Tok::Char(b'<') => BinOp::Lt,
        Tok::Le => BinOp::Le,
        Tok::Char(b'>') => BinOp::Gt,
        Tok::Ge => BinOp::Ge,
        Tok::And => BinOp::And,
        Tok::Or => BinOp::Or,
        _ => return None,
    })
}

fn unop(t: Tok) -> Option<UnOp> {
    Some(match t {
        Tok::Not => UnOp::Not,
        Tok::Char(b'-') => UnOp::Minus,
        Tok::Char(b'~') => UnOp::BNot,
        Tok::Char(b'#') => UnOp::Len,
        _ => return None,
    })
}

/// State of a table constructor being compiled.
struct ConsControl {
    /// Last list item read (not yet stored).
    v: ExpDesc,
    /// Table register.
    t: ExpDesc,
    /// Number of record fields.
    nh: u32,
    /// Number of array items already stored.
    na: u32,
    /// Number of array items pending in registers.
    tostore: u32,
}

pub(crate) struct Parser<'a> {
    pub lex: Lexer<'a>,
    /// Current token.
    pub cur: Token,
    /// Lookahead token, if read.
    pub ahead: Option<Token>,
    /// Line of the last token consumed (instructions get this line).
    pub last_line: u32,
    /// Function being compiled.
    pub fs: FuncState,
    /// Enclosing functions (innermost last).
    pub outer: Vec<FuncState>,
    /// Names and values of all compile-time constant variables seen so far.
    pub ctc_values: Vec<(StrId, CtcValue)>,
    /// The innermost active declaration of each name across all open functions (each
    /// `VarDesc::shadowed` links to the one it hides), so resolving a name costs O(1) for
    /// locals, compile-time constants and globals whatever the nesting.
    pub visible: IdMap<StrId, VarRef>,
    /// Current nesting level (see [`MAX_LEVELS`]).
    pub level: u32,
    source: Arc<str>,
    short_source: Arc<str>,
    env_name: StrId,
    break_name: StrId,
    /// Estimated heap bytes held by the compilation so far (function states, code, constants,
    /// debug information; the interner counts its own), by capacity where it matters. An
    /// upper bound of what the compiler allocates, checked against `mem_limit` at every token.
    pub mem: usize,
    /// Most bytes the compilation may hold (`compile_with_limit`).
    pub mem_limit: usize,
}

/// Estimated bytes of a function being compiled beyond its vectors' contents: the
/// `FuncState` with its maps, the boxed `Prototype` and its `Arc`.
const FUNC_OVERHEAD: usize = 1024;
/// Estimated bytes per pending goto or label (entries and index slots).
const GOTO_COST: usize = 64;
/// Estimated bytes per upvalue or local variable's debug entry (compile-time entry, final
/// descriptor and its name's allocation; the name bytes are added).
const VAR_COST: usize = 96;
/// Estimated bytes per constant (value, map entry, slack; string bytes are added).
pub(crate) const CONST_COST: usize = 56;

/// Compiles a whole chunk, holding at most about `mem_limit` bytes while doing so (else the
/// error "not enough memory").
pub(crate) fn parse_chunk(
    source: &[u8],
    chunk_name: &str,
    shared_name: Option<&Arc<str>>,
    mem_limit: usize,
    progress: Option<&crate::CompileProgress>,
) -> CResult<Prototype> {
    let chunk = crate::error::chunk_id(chunk_name);
    let short_source: Arc<str> = Arc::from(chunk.as_str());
    let mut lex = Lexer::new(source, chunk);
    if let Some(progress) = progress {
        lex.report_progress_to(progress);
    }
    let env_name = lex.interner.intern(b"_ENV");
    let break_name = lex.interner.intern(b"break");
    let mut p = Parser {
        lex,
        cur: Token {
            tok: Tok::Eof,
            start: 0,
            end: 0,
            delim: crate::lexer::Delim::Quote(b'"'),
        },
        ahead: None,
        last_line: 1,
        fs: FuncState::new(0),
        outer: Vec::new(),
        ctc_values: Vec::new(),
        visible: IdMap::default(),
        level: 0,
        // The caller's copy of the name when it is the whole source name (no NUL): a chunk
        // loaded from a string is named by the string itself, which may be megabytes.
        source: match shared_name {
            Some(name) if name.len() == crate::error::source_name(chunk_name).len() => name.clone(),
            _ => Arc::from(crate::error::source_name(chunk_name)),
        },
        short_source,
        env_name,
        break_name,
        // The chunk name's copy shared by the prototypes.
        mem: FUNC_OVERHEAD.saturating_add(chunk_name.len()),
        mem_limit,
    };
    p.check_mem()?;
    p.main_func()
}

impl<'a> Parser<'a> {
    // ---------------------------------------------------------------- tokens & errors

    /// Adds `bytes` to the compilation's estimated footprint (checked at the next token).
    pub(crate) fn note_mem(&mut self, bytes: usize) {
        self.mem = self.mem.saturating_add(bytes);
    }

    /// Fails with "not enough memory" once the compilation holds more than its budget
    /// (checked after each token: one token, e.g. a long string literal, can overshoot by a
    /// few times its own length, which is bounded by the source's).
    fn check_mem(&self) -> CResult<()> {
        let held = self
            .mem
            .saturating_add(self.lex.interner.bytes)
            .saturating_add(self.lex.buffer_bytes());
        if held > self.mem_limit {
            return Err(self.make_error("not enough memory".to_string()));
        }
        Ok(())
    }

    fn next(&mut self) -> CResult<()> {
        // Every token passes here, and each adds a bounded amount of compiler state.
        self.check_mem()?;
        self.last_line = self.lex.line;
        self.cur = match self.ahead.take() {
            Some(t) => t,
            None => self.lex.next_token()?,
        };
        Ok(())
    }

    fn lookahead(&mut self) -> CResult<Tok> {
        if self.ahead.is_none() {
            self.ahead = Some(self.lex.next_token()?);
        }
        Ok(self.ahead.map_or(Tok::Eof, |t| t.tok))
    }

    fn is(&self, c: u8) -> bool {
        self.cur.tok == Tok::Char(c)
    }

    fn make_error(&self, message: String) -> Box<CompileError> {
        Box::new(CompileError {
            chunk: self.lex.chunk.clone(),
            line: self.lex.line,
            message,
        })
    }

    /// Error with "near <current token>".
    pub(crate) fn syntax_error(&self, msg: &str) -> Box<CompileError> {
        match self.lex.token_text(&self.cur) {
            Some(near) => self.make_error(format!("{msg} near {near}")),
            None => self.make_error(msg.to_string()),
        }
    }

    /// Semantic error (no "near" part).
    fn sem_error(&self, msg: String) -> Box<CompileError> {
        self.make_error(msg)
    }

    fn error_expected(&self, t: Tok) -> Box<CompileError> {
        self.syntax_error(&format!("{} expected", t.describe()))
    }

    fn error_limit(&self, line_defined: u32, limit: usize, what: &str) -> Box<CompileError> {
        let place = if line_defined == 0 {
            "main function".to_string()
        } else {
            format!("function at line {line_defined}")
        };
        self.syntax_error(&format!("too many {what} (limit is {limit}) in {place}"))
    }

    fn enter_level(&mut self) -> CResult<()> {
        self.level += 1;
        if self.level >= MAX_LEVELS {
            return Err(self.make_error(crate::error::NESTING_MESSAGE.to_string()));
        }
        Ok(())
    }

    fn leave_level(&mut self) {
        self.level -= 1;
    }

    fn test_next(&mut self, t: Tok) -> CResult<bool> {
        if self.cur.tok == t {
            self.next()?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    fn check(&self, t: Tok) -> CResult<()> {
        if self.cur.tok != t {
            return Err(self.error_expected(t));
        }
        Ok(())
    }

    fn check_next(&mut self, t: Tok) -> CResult<()> {
        self.check(t)?;
        self.next()
    }

    fn check_match(&mut self, what: Tok, who: Tok, line: u32) -> CResult<()> {
        if !self.test_next(what)? {
            if line == self.lex.line {
                return Err(self.error_expected(what));
            }
            return Err(self.syntax_error(&format!(
                "{} expected (to close {} at line {})",
                what.describe(),
                who.describe(),
                line
            )));
        }
        Ok(())
    }

    fn str_checkname(&mut self) -> CResult<StrId> {
        if let Tok::Name(n) = self.cur.tok {
            self.next()?;
            Ok(n)
        } else {
            Err(self.error_expected(Tok::Name(0)))
        }
    }

    fn block_follow(&self, with_until: bool) -> bool {
        match self.cur.tok {
            Tok::Else | Tok::Elseif | Tok::End | Tok::Eof => true,
            Tok::Until => with_until,
            _ => false,
        }
    }

    fn name_str(&self, n: StrId) -> String {
        String::from_utf8_lossy(self.lex.interner.get(n)).into_owned()
    }

    // ---------------------------------------------------------------- functions

    fn main_func(&mut self) -> CResult<Prototype> {
        self.fs.is_vararg = true;
        self.fs.push_upval(UpvalInfo {
            name: self.env_name,
            in_stack: true,
            index: 0,
            kind: VarKind::Regular,
        });
        self.enter_block(false);
        self.next()?;
        self.statlist()?;
        self.check(Tok::Eof)?;
        self.close_func()
    }

    fn open_func(&mut self, line: u32) {
        self.note_mem(FUNC_OVERHEAD);
        let parent = std::mem::replace(&mut self.fs, FuncState::new(line));
        self.outer.push(parent);
        self.enter_block(false);
    }

    /// Finishes the current function and returns its prototype (the enclosing function
    /// becomes current again).
    fn close_func(&mut self) -> CResult<Prototype> {
        let first = self.fs.nvarstack();
        self.ret(first, 0);
        self.leave_block()?;
        self.finish();
        let parent = self.outer.pop().unwrap_or_else(|| FuncState::new(0));
        let fs = std::mem::replace(&mut self.fs, parent);
        let interner = &self.lex.interner;
        // The descriptors made here copy the names of upvalues and locals.
        let names: usize = fs
            .upvals
            .iter()
            .map(|u| interner.get(u.name).len())
            .chain(fs.local_vars.iter().map(|l| interner.get(l.name).len()))
            .sum();
        self.mem = self
            .mem
            .saturating_add(names)
            .saturating_add((fs.upvals.len() + fs.local_vars.len()) * VAR_COST);
        let interner = &self.lex.interner;
        // Buffers at their exact size: a prototype's memory charge (by capacity) is then
        // the same whether it was compiled or read back from a binary chunk or an image.
        let (mut code, mut lines, mut constants, mut protos) =
            (fs.code, fs.lines, fs.constants, fs.protos);
        code.shrink_to_fit();
        lines.shrink_to_fit();
        constants.shrink_to_fit();
        protos.shrink_to_fit();
        let proto = Prototype {
            source: self.source.clone(),
            short_source: self.short_source.clone(),
            line_defined: fs.line_defined,
            last_line_defined: fs.last_line_defined,
            num_params: fs.num_params,
            is_vararg: fs.is_vararg,
            max_stack_size: fs.max_stack as u8,
            code,
            lines,
            constants,
            prototypes: protos,
            upvalues: fs
                .upvals
                .iter()
                .map(|u| UpvalueDesc {
                    name: interner.get(u.name).into(),
                    in_stack: u.in_stack,
                    index: u.index,
                })
                .collect(),
            local_vars: fs
                .local_vars
                .iter()
                .map(|l| LocalVar {
                    name: interner.get(l.name).into(),
                    start_pc: l.start_pc,
                    end_pc: l.end_pc,
                })
                .collect(),
        };
        // The other half of the resolved upvalues' work (see `singlevar_aux`), now done.
        let resolved = fs.resolved_upvals;
        self.lex
            .add_work(resolved * (crate::UPVALUE_WORK - crate::UPVALUE_WORK / 2));
        Ok(proto)
    }

    /// `body -> '(' parlist ')' block END`; leaves the closure in the next register.
    fn body(&mut self, is_method: bool, line: u32) -> CResult<ExpDesc> {
        self.open_func(line);
        if is_method {
            let name = self.lex.interner.intern(b"self");
            self.new_localvar(name)?;
            self.adjust_local_vars(1);
        }
        self.check_next(Tok::Char(b'('))?;
        self.parlist()?;
        self.check_next(Tok::Char(b')'))?;
        self.statlist()?;
        self.fs.last_line_defined = self.lex.line;
        self.check_match(Tok::End, Tok::Function, line)?;
        let proto = self.close_func()?;
        self.fs.protos.push(Arc::new(proto));
        let idx = (self.fs.protos.len() - 1) as u32;
        let pc = self.emit(Instruction::Closure { a: 0, proto: idx });
        let mut e = ExpDesc::new(ExpKind::Reloc(pc));
        self.exp_to_nextreg(&mut e)?;
        Ok(e)
    }

    fn parlist(&mut self) -> CResult<()> {
        let mut nparams = 0;
        let mut is_vararg = false;
        if !self.is(b')') {
            loop {
                match self.cur.tok {
                    Tok::Name(n) => {
                        self.next()?;
                        self.new_localvar(n)?;
                        nparams += 1;
                    }
                    Tok::Dots => {
                        self.next()?;
                        is_vararg = true;
                    }
                    _ => return Err(self.syntax_error("<name> or '...' expected")),
                }
                if is_vararg || !self.test_next(Tok::Char(b','))? {
                    break;
                }
            }
        }
        self.adjust_local_vars(nparams);
        self.fs.num_params = self.fs.nactvar as u8;
        if is_vararg {
            self.fs.is_vararg = true;
        }
        self.reserve_regs(self.fs.nactvar as u32)
    }

    // ---------------------------------------------------------------- variables

    /// Declares a new (not yet active) local variable; returns its index in `actvars`.
    fn new_localvar(&mut self, name: StrId) -> CResult<usize> {
        if self.fs.actvars.len() + 1 > MAX_VARS {
            return Err(self.error_limit(self.fs.line_defined, MAX_VARS, "local variables"));
        }
        self.fs.actvars.push(VarDesc {
            name,
            kind: VarKind::Regular,
            reg: 0,
            pidx: None,
            level: 0,
            shadowed: None,
        });
        Ok(self.fs.actvars.len() - 1)
    }

    /// Activates the next `n` declared variables, giving them consecutive registers.
    fn adjust_local_vars(&mut self, n: usize) {
        let first_reg = self.fs.nvarstack();
        let pc = self.fs.pc() as u32;
        for reg in first_reg..first_reg + n as u32 {
            let vidx = self.fs.nactvar;
            let name = self.fs.actvars[vidx].name;
            self.fs.local_vars.push(LocalInfo {
                name,
                start_pc: pc,
                end_pc: pc,
            });
            let pidx = self.fs.local_vars.len() - 1;
            self.mem = self.mem.saturating_add(VAR_COST);
            let v = &mut self.fs.actvars[vidx];
            v.reg = reg as u8;
            v.pidx = Some(pidx);
            self.activate_next();
        }
    }

    /// Makes the next declared variable active: its register level and its place in
    /// `visible` (a compile-time constant keeps the level of the variables before it).
    fn activate_next(&mut self) {
        let vidx = self.fs.nactvar;
        let below = self.fs.reg_level(vidx);
        let level = self.outer.len();
        let v = &mut self.fs.actvars[vidx];
        v.level = match v.kind {
            VarKind::CompileTime(_) => below,
            _ => v.reg as u32 + 1,
        };
        v.shadowed = self.visible.insert(v.name, VarRef { level, vidx });
        self.fs.nactvar += 1;
    }

    /// Ends the scope of variables above `to_level` (debug info `end_pc`). The entries stay
    /// in `actvars` until the block is fully closed.
    fn remove_vars(&mut self, to_level: usize) {
        let pc = self.fs.pc() as u32;
        while self.fs.nactvar > to_level {
            self.fs.nactvar -= 1;
            let v = self.fs.actvars[self.fs.nactvar];
            if let Some(p) = v.pidx {
                self.fs.local_vars[p].end_pc = pc;
            }
            match v.shadowed {
                Some(prev) => self.visible.insert(v.name, prev),
                None => self.visible.remove(&v.name),
            };
        }
    }

    fn fs_at(&mut self, level: usize) -> &mut FuncState {
        if level == self.outer.len() {
            &mut self.fs
        } else {
            &mut self.outer[level]
        }
    }

    /// Marks the block where variable `vidx` of function `level` lives as having a captured
    /// variable.
    fn mark_upval(&mut self, level: usize, vidx: usize) {
        let fs = self.fs_at(level);
        if let Some(bl) = fs.blocks.iter_mut().rev().find(|b| b.nactvar <= vidx) {
            bl.upval = true;
        }
        fs.needclose = true;
    }

    fn mark_to_be_closed(&mut self) {
        if let Some(bl) = self.fs.blocks.last_mut() {
            bl.upval = true;
            bl.inside_tbc = true;
        }
        self.fs.needclose = true;
    }

    /// Resolves `name` in function `level` (0 = main chunk). `Void` means global. `decl` is
    /// the innermost active declaration of `name` in function `level` or an enclosing one
    /// (from `visible`): no function between it and `level` declares the name, so only
    /// upvalues are looked up on the way (O(1) each), and only while creating upvalues.
    fn singlevar_aux(
        &mut self,
        level: usize,
        name: StrId,
        base: bool,
        decl: Option<VarRef>,
    ) -> CResult<ExpDesc> {
        if let Some(d) = decl {
            if d.level == level {
                let v = self.fs_at(level).actvars[d.vidx];
                if let VarKind::CompileTime(c) = v.kind {
                    return Ok(ExpDesc::new(ExpKind::Const(c)));
                }
                if !base {
                    self.mark_upval(level, d.vidx);
                }
                return Ok(ExpDesc::new(ExpKind::Local {
                    reg: v.reg,
                    vidx: d.vidx,
                }));
            }
        }
        // existing upvalues
        if let Some(&i) = self.fs_at(level).upval_index.get(&name) {
            return Ok(ExpDesc::new(ExpKind::Upval(i)));
        }
        if level == 0 {
            return Ok(ExpDesc::new(ExpKind::Void));
        }
        let v = self.singlevar_aux(level - 1, name, false, decl)?;
        let (in_stack, index, kind) = match v.k {
            ExpKind::Local { reg, vidx } => (true, reg, self.fs_at(level - 1).actvars[vidx].kind),
            ExpKind::Upval(i) => (false, i, self.fs_at(level - 1).upvals[i as usize].kind),
            _ => return Ok(v), // global or compile-time constant
        };
        let fs = self.fs_at(level);
        if fs.upvals.len() + 1 > MAX_UPVALS {
            let line = fs.line_defined;
            return Err(self.error_limit(line, MAX_UPVALS, "upvalues"));
        }
        let i = fs.push_upval(UpvalInfo {
            name,
            in_stack,
            index,
            kind,
        });
        fs.resolved_upvals += 1;
        self.note_mem(VAR_COST);
        // A name resolved through n enclosing functions makes an upvalue in each: work
        // that reading its few bytes does not account for (deeply nested closures made
        // compiling cost ~800 ns a source byte). Half of it counted here, half when the
        // function closes and makes the upvalue's descriptor (`close_func`), so progress
        // follows the work.
        self.lex.add_work(crate::UPVALUE_WORK / 2);
        Ok(ExpDesc::new(ExpKind::Upval(i)))
    }

    /// Resolves `name` from the current function.
    fn resolve(&mut self, name: StrId) -> CResult<ExpDesc> {
        let level = self.outer.len();
        let decl = self.visible.get(&name).copied();
        match decl {
            // Not declared in any open function: a global, or `_ENV` (an upvalue of the
            // main chunk, found by walking the upvalues).
            None if name != self.env_name => Ok(ExpDesc::new(ExpKind::Void)),
            // A compile-time constant is used as its value at any depth, no upvalue made.
            Some(d) if d.level != level => {
                let v = self.fs_at(d.level).actvars[d.vidx];
                match v.kind {
                    VarKind::CompileTime(c) => Ok(ExpDesc::new(ExpKind::Const(c))),
                    _ => self.singlevar_aux(level, name, true, decl),
                }
            }
            _ => self.singlevar_aux(level, name, true, decl),
        }
    }

    fn singlevar(&mut self) -> CResult<ExpDesc> {
        let name = self.str_checkname()?;
        let mut var = self.resolve(name)?;
        if var.k == ExpKind::Void {
            var = self.resolve(self.env_name)?;
            self.exp_to_anyregup(&mut var)?;
            let mut key = ExpDesc::new(ExpKind::KStr(name));
            self.indexed(&mut var, &mut key)?;
        }
        Ok(var)
    }

    fn check_readonly(&self, e: &ExpDesc) -> CResult<()> {
        let name = match e.k {
            ExpKind::Const(c) => Some(self.ctc_values[c as usize].0),
            ExpKind::Local { vidx, .. } => {
                let v = &self.fs.actvars[vidx];
                (v.kind != VarKind::Regular).then_some(v.name)
            }
            ExpKind::Upval(i) => {
                let u = &self.fs.upvals[i as usize];
                (u.kind != VarKind::Regular).then_some(u.name)
            }
            _ => None,
        };
        match name {
            Some(n) => Err(self.sem_error(format!(
                "attempt to assign to const variable '{}'",
                self.name_str(n)
            ))),
            None => Ok(()),
        }
    }

    // ---------------------------------------------------------------- blocks, labels, gotos

    fn enter_block(&mut self, is_loop: bool) {
        let inside_tbc = self.fs.blocks.last().is_some_and(|b| b.inside_tbc);
        debug_assert_eq!(self.fs.free_reg, self.fs.nvarstack());
        self.fs.blocks.push(BlockCnt {
            first_label: self.fs.labels.len(),
            first_goto: self.fs.gotos.len(),
            nactvar: self.fs.nactvar,
            upval: false,
            is_loop,
            inside_tbc,
        });
    }

    fn leave_block(&mut self) -> CResult<()> {
        let Some(&bl) = self.fs.blocks.last() else {
            return Ok(());
        };
        let has_previous = self.fs.blocks.len() > 1;
        let stack_level = self.fs.reg_level(bl.nactvar);
        // Remove the block's variables first (PUC 5.4.6 order; 5.4.4 did it after creating
        // the "break" label, so a `break` out of a generic `for` did not close the closing
        // value: its `Close` started above the loop's control variables).
        self.remove_vars(bl.nactvar);
        let mut has_close = false;
        if bl.is_loop {
            // pending breaks jump here
            has_close = self.create_label(self.break_name, 0, false)?;
        }
        if !has_close && has_previous && bl.upval {
            self.emit(Instruction::Close {
                a: stack_level as u8,
            });
        }
        self.fs.free_reg = stack_level;
        for (i, l) in self.fs.labels.iter().enumerate().skip(bl.first_label) {
            if self.fs.label_index.get(&l.name) == Some(&i) {
                self.fs.label_index.remove(&l.name);
            }
        }
        self.fs.labels.truncate(bl.first_label);
        self.fs.blocks.pop();
        if has_previous {
            // pending gotos now belong to the enclosing block
            self.compact_gotos(bl.first_goto);
            for i in bl.first_goto..self.fs.gotos.len() {
                let gt = self.fs.gotos[i];
                let mut close = gt.close;
                if self.fs.reg_level(gt.nactvar) > stack_level {
                    close |= bl.upval;
                }
                self.fs.gotos[i].close = close;
                self.fs.gotos[i].nactvar = bl.nactvar;
            }
        } else if let Some(&gt) = self.fs.gotos[bl.first_goto..].iter().find(|g| !g.resolved) {
            return Err(self.undef_goto(&gt));
        }
        self.fs.actvars.truncate(bl.nactvar);
        Ok(())
    }

    /// Drops the resolved gotos from `gotos[from..]` and renumbers the pending ones in
    /// `goto_index`: O(length of that tail), so each goto costs O(1) per block it leaves.
    fn compact_gotos(&mut self, from: usize) {
        let fs = &mut self.fs;
        if !fs.gotos[from..].iter().any(|g| g.resolved) {
            return;
        }
        // Pending gotos at `from..` are the tails of their names' index lists: drop them...
        for g in fs.gotos[from..].iter().rev().filter(|g| !g.resolved) {
            if let Some(list) = fs.goto_index.get_mut(&g.name) {
                list.pop();
            }
        }
        // ...and put them back under their new positions.
        let mut k = from;
        for i in from..fs.gotos.len() {
            let g = fs.gotos[i];
            if g.resolved {
                continue;
            }
            fs.gotos[k] = g;
            fs.goto_index.entry(g.name).or_default().push(k);
            k += 1;
        }
        fs.gotos.truncate(k);
    }

    fn undef_goto(&self, gt: &LabelDesc) -> Box<CompileError> {
        if gt.name == self.break_name {
            self.sem_error(format!("break outside loop at line {}", gt.line))
        } else {
            self.sem_error(format!(
                "no visible label '{}' for <goto> at line {}",
                self.name_str(gt.name),
                gt.line
            ))
        }
    }

    fn find_label(&self, name: StrId) -> Option<LabelDesc> {
        let i = *self.fs.label_index.get(&name)?;
        self.fs.labels.get(i).copied()
    }

    /// Creates a label at the current pc and resolves pending gotos of the current block
    /// to it. Returns whether a `Close` was emitted for them.
    fn create_label(&mut self, name: StrId, line: u32, last: bool) -> CResult<bool> {
        let pc = self.get_label();
        let nactvar = if last {
            // a label at the end of a block is outside the scope of the block's locals
            self.fs.blocks.last().map_or(0, |b| b.nactvar)
        } else {
            self.fs.nactvar
        };
        let label = LabelDesc {
            name,
            pc: pc as i32,
            line,
            nactvar,
            close: false,
            resolved: false,
        };
        if name != self.break_name {
            self.fs.label_index.insert(name, self.fs.labels.len());
        }
        self.note_mem(GOTO_COST);
        self.fs.labels.push(label);
        // solve pending gotos of the current block: the tail of the name's index list
        let mut needs_close = false;
        let first = self.fs.blocks.last().map_or(0, |b| b.first_goto);
        let pending = match self.fs.goto_index.get_mut(&name) {
            Some(list) => {
                let keep = list.partition_point(|&i| i < first);
                list.split_off(keep)
            }
            None => Vec::new(),
        };
        for i in pending {
            let gt = self.fs.gotos[i];
            needs_close |= gt.close;
            if gt.nactvar < label.nactvar {
                let var = self.fs.actvars[gt.nactvar].name;
                return Err(self.sem_error(format!(
                    "<goto {}> at line {} jumps into the scope of local '{}'",
                    self.name_str(gt.name),
                    gt.line,
                    self.name_str(var)
                )));
            }
            self.patch_list(gt.pc, pc);
            self.fs.gotos[i].resolved = true;
        }
        if needs_close {
            let level = self.fs.nvarstack();
            self.emit(Instruction::Close { a: level as u8 });
        }
        Ok(needs_close)
    }

    fn new_goto(&mut self, name: StrId, line: u32, pc: i32) {
        let i = self.fs.gotos.len();
        self.fs.gotos.push(LabelDesc {
            name,
            pc,
            line,
            nactvar: self.fs.nactvar,
            close: false,
            resolved: false,
        });
        self.fs.goto_index.entry(name).or_default().push(i);
        self.note_mem(GOTO_COST);
    }

    // ---------------------------------------------------------------- statements

    fn statlist(&mut self) -> CResult<()> {
        while !self.block_follow(true) {
            if self.cur.tok == Tok::Return {
                return self.statement();
            }
            self.statement()?;
        }
        Ok(())
    }

    fn block(&mut self) -> CResult<()> {
        self.enter_block(false);
        self.statlist()?;
        self.leave_block()
    }

    fn statement(&mut self) -> CResult<()> {
        let line = self.lex.line;
        self.enter_level()?;
        match self.cur.tok {
            Tok::Char(b';') => self.next()?,
            Tok::If => self.if_stat(line)?,
            Tok::While => self.while_stat(line)?,
            Tok::Do => {
                self.next()?;
                self.block()?;
                self.check_match(Tok::End, Tok::Do, line)?;
            }
            Tok::For => self.for_stat(line)?,
            Tok::Repeat => self.repeat_stat(line)?,
            Tok::Function => self.func_stat(line)?,
            Tok::Local => {
                self.next()?;
                if self.test_next(Tok::Function)? {
                    self.local_func()?;
                } else {
                    self.local_stat()?;
                }
            }
            Tok::DbColon => {
                self.next()?;
                let name = self.str_checkname()?;
                self.label_stat(name, line)?;
            }
            Tok::Return => {
                self.next()?;
                self.ret_stat()?;
            }
            Tok::Break => {
                let line = self.lex.line;
                self.next()?;
                let j = self.jump();
                self.new_goto(self.break_name, line, j);
            }
            Tok::Goto => {
                self.next()?;
                self.goto_stat()?;
            }
            _ => self.expr_stat()?,
        }
        debug_assert!(self.fs.free_reg >= self.fs.nvarstack());
        debug_assert!(self.fs.max_stack >= self.fs.free_reg);
        self.fs.free_reg = self.fs.nvarstack();
        self.leave_level();
        Ok(())
    }

    fn label_stat(&mut self, name: StrId, line: u32) -> CResult<()> {
        self.check_next(Tok::DbColon)?;
        while self.is(b';') || self.cur.tok == Tok::DbColon {
            self.statement()?; // skip other no-op statements
        }
        if let Some(lb) = self.find_label(name) {
            return Err(self.sem_error(format!(
                "label '{}' already defined on line {}",
                self.name_str(name),
                lb.line
            )));
        }
        let last = self.block_follow(false);
        self.create_label(name, line, last)?;
        Ok(())
    }

    fn goto_stat(&mut self) -> CResult<()> {
        let line = self.lex.line;
        let name = self.str_checkname()?;
        match self.find_label(name) {
            Some(lb) => {
                // backward jump: resolved now
                let lb_level = self.fs.reg_level(lb.nactvar);
                if self.fs.nvarstack() > lb_level {
                    self.emit(Instruction::Close { a: lb_level as u8 });
                }
                let j = self.jump();
                self.patch_list(j, lb.pc as usize);
            }
            None => {
                // forward jump: resolved when the label is declared
                let j = self.jump();
                self.new_goto(name, line, j);
            }
        }
        Ok(())
    }

    /// `cond -> exp`; returns the false-exit jump list.
    fn cond(&mut self) -> CResult<i32> {
        let mut v = self.expr()?;
        if v.k == ExpKind::Nil {
            v.k = ExpKind::False;
        }
        self.go_if_true(&mut v)?;
        Ok(v.f)
    }

    fn while_stat(&mut self, line: u32) -> CResult<()> {
        self.next()?;
        let while_init = self.get_label();
        let cond_exit = self.cond()?;
        self.enter_block(true);
        self.check_next(Tok::Do)?;
        self.block()?;
        self.jump_to(while_init);
        self.check_match(Tok::End, Tok::While, line)?;
        self.leave_block()?;
        self.patch_to_here(cond_exit);
        Ok(())
    }

    fn repeat_stat(&mut self, line: u32) -> CResult<()> {
        let repeat_init = self.get_label();
        self.enter_block(true); // loop block
        self.enter_block(false); // scope block
        self.next()?;
        self.statlist()?;
        self.check_match(Tok::Until, Tok::Repeat, line)?;
        let mut cond_exit = self.cond()?; // read condition (inside scope block)
        let Some(&scope) = self.fs.blocks.last() else {
            return Ok(());
        };
        self.leave_block()?;
        if scope.upval {
            // repetition must close upvalues
            let exit = self.jump(); // normal exit must jump over the fix
            self.patch_to_here(cond_exit);
            let level = self.fs.reg_level(scope.nactvar);
            self.emit(Instruction::Close { a: level as u8 });
            cond_exit = self.jump();
            self.patch_to_here(exit);
        }
        self.patch_list(cond_exit, repeat_init);
        self.leave_block()
    }

    /// Expression whose value goes to the next register.
    fn exp1(&mut self) -> CResult<()> {
        let mut e = self.expr()?;
        self.exp_to_nextreg(&mut e)
    }

    fn for_body(&mut self, base: u32, line: u32, nvars: usize, generic: bool) -> CResult<()> {
        let a = base as u8;
        self.check_next(Tok::Do)?;
        let prep = if generic {
            self.emit(Instruction::TForPrep { a, skip: 0 })
        } else {
            self.emit(Instruction::ForPrep { a, skip: 0 })
        };
        self.enter_block(false); // scope for declared variables
        self.adjust_local_vars(nvars);
        self.reserve_regs(nvars as u32)?;
        self.block()?;
        self.leave_block()?;
        let body_end = self.get_label();
        if generic {
            self.fs.code[prep] = Instruction::TForPrep {
                a,
                skip: (body_end - prep - 1) as u32,
            };
            self.emit(Instruction::TForCall { a, c: nvars as u8 });
            self.fix_line(line);
            let end = self.emit(Instruction::TForLoop { a, back: 0 });
            self.fs.code[end] = Instruction::TForLoop {
                a,
                back: (end - prep) as u32,
            };
        } else {
            let end = self.emit(Instruction::ForLoop { a, back: 0 });
            self.fs.code[end] = Instruction::ForLoop {
                a,
                back: (end - prep) as u32,
            };
            self.fs.code[prep] = Instruction::ForPrep {
                a,
                skip: (end - prep) as u32,
            };
        }
        self.fix_line(line);
        Ok(())
    }

    fn for_num(&mut self, var: StrId, line: u32) -> CResult<()> {
        let base = self.fs.free_reg;
        let state = self.lex.interner.intern(b"(for state)");
        for _ in 0..3 {
            self.new_localvar(state)?;
        }
        self.new_localvar(var)?;
        self.check_next(Tok::Char(b'='))?;
        self.exp1()?;
        self.check_next(Tok::Char(b','))?;
        self.exp1()?;
        if self.test_next(Tok::Char(b','))? {
            self.exp1()?;
        } else {
            self.check_stack(1)?;
            self.load_int(self.fs.free_reg as u8, 1);
            self.reserve_regs(1)?;
        }
        self.adjust_local_vars(3);
        self.for_body(base, line, 1, false)
    }

    fn for_list(&mut self, first: StrId) -> CResult<()> {
        let base = self.fs.free_reg;
        let state = self.lex.interner.intern(b"(for state)");
        for _ in 0..4 {
            self.new_localvar(state)?;
        }
        self.new_localvar(first)?;
        let mut nvars = 5;
        while self.test_next(Tok::Char(b','))? {
            let n = self.str_checkname()?;
            self.new_localvar(n)?;
            nvars += 1;
        }
        self.check_next(Tok::In)?;
        let line = self.lex.line;
        let (nexps, mut e) = self.explist()?;
        self.adjust_assign(4, nexps, &mut e)?;
        self.adjust_local_vars(4);
        self.mark_to_be_closed(); // the closing value must be closed
        self.check_stack(3)?; // extra space to call the iterator
        self.for_body(base, line, nvars - 4, true)
    }

    fn for_stat(&mut self, line: u32) -> CResult<()> {
        self.enter_block(true);
        self.next()?;
        let var = self.str_checkname()?;
        match self.cur.tok {
            Tok::Char(b'=') => self.for_num(var, line)?,
            Tok::Char(b',') | Tok::In => self.for_list(var)?,
            _ => return Err(self.syntax_error("'=' or 'in' expected")),
        }
        self.check_match(Tok::End, Tok::For, line)?;
        self.leave_block()
    }

    fn test_then_block(&mut self, escape_list: &mut i32) -> CResult<()> {
        self.next()?; // skip IF or ELSEIF
        let mut v = self.expr()?;
        self.check_next(Tok::Then)?;
        let jf = if self.cur.tok == Tok::Break {
            // 'if x then break': jump straight to the loop exit
            let line = self.lex.line;
            self.go_if_false(&mut v)?;
            self.next()?;
            self.enter_block(false);
            self.new_goto(self.break_name, line, v.t);
            while self.test_next(Tok::Char(b';'))? {}
            if self.block_follow(false) {
                return self.leave_block();
            }
            self.jump()
        } else {
            self.go_if_true(&mut v)?;
            self.enter_block(false);
            v.f
        };
        self.statlist()?;
        self.leave_block()?;
        if matches!(self.cur.tok, Tok::Else | Tok::Elseif) {
            let j = self.jump();
            self.concat_jumps(escape_list, j);
        }
        self.patch_to_here(jf);
        Ok(())
    }

    fn if_stat(&mut self, line: u32) -> CResult<()> {
        let mut escape_list = NO_JUMP;
        self.test_then_block(&mut escape_list)?;
        while self.cur.tok == Tok::Elseif {
            self.test_then_block(&mut escape_list)?;
        }
        if self.test_next(Tok::Else)? {
            self.block()?;
        }
        self.check_match(Tok::End, Tok::If, line)?;
        self.patch_to_here(escape_list);
        Ok(())
    }

    fn local_func(&mut self) -> CResult<()> {
        let fvar = self.fs.nactvar;
        let name = self.str_checkname()?;
        self.new_localvar(name)?;
        self.adjust_local_vars(1); // visible inside its own body
        let line = self.lex.line;
        self.body(false, line)?;
        // debug information only sees the variable after this point
        let pc = self.fs.pc() as u32;
        if let Some(p) = self.fs.actvars[fvar].pidx {
            self.fs.local_vars[p].start_pc = pc;
        }
        Ok(())
    }

    fn local_attrib(&mut self) -> CResult<VarKind> {
        if self.test_next(Tok::Char(b'<'))? {
            let attr = self.str_checkname()?;
            self.check_next(Tok::Char(b'>'))?;
            return match self.lex.interner.get(attr) {
                b"const" => Ok(VarKind::Const),
                b"close" => Ok(VarKind::Close),
                _ => Err(self.sem_error(format!("unknown attribute '{}'", self.name_str(attr)))),
            };
        }
        Ok(VarKind::Regular)
    }

    fn local_stat(&mut self) -> CResult<()> {
        let mut to_close: Option<usize> = None;
        let mut nvars = 0;
        let mut vidx;
        loop {
            let name = self.str_checkname()?;
            vidx = self.new_localvar(name)?;
            let kind = self.local_attrib()?;
            self.fs.actvars[vidx].kind = kind;
            if kind == VarKind::Close {
                if to_close.is_some() {
                    return Err(
                        self.sem_error("multiple to-be-closed variables in local list".to_string())
                    );
                }
                to_close = Some(self.fs.nactvar + nvars);
            }
            nvars += 1;
            if !self.test_next(Tok::Char(b','))? {
                break;
            }
        }
        let (nexps, mut e) = if self.test_next(Tok::Char(b'='))? {
            self.explist()?
        } else {
            (0, ExpDesc::new(ExpKind::Void))
        };
        let var = self.fs.actvars[vidx];
        let ctc = if nvars == nexps && var.kind == VarKind::Const {
            self.exp_to_const(&e)
        } else {
            None
        };
        if let Some(value) = ctc {
            // the last variable is a compile-time constant: no register
            self.ctc_values.push((var.name, value));
            self.note_mem(GOTO_COST);
            self.fs.actvars[vidx].kind = VarKind::CompileTime((self.ctc_values.len() - 1) as u32);
            self.adjust_local_vars(nvars - 1);
            self.activate_next();
        } else {
            self.adjust_assign(nvars, nexps, &mut e)?;
            self.adjust_local_vars(nvars);
        }
        if let Some(level) = to_close {
            self.mark_to_be_closed();
            let reg = self.fs.reg_level(level);
            self.emit(Instruction::Tbc { a: reg as u8 });
        }
        Ok(())
    }

    /// `funcname -> NAME {'.' NAME} [':' NAME]`; returns whether it is a method.
    fn func_name(&mut self) -> CResult<(ExpDesc, bool)> {
        let mut v = self.singlevar()?;
        while self.is(b'.') {
            self.field_sel(&mut v)?;
        }
        if self.is(b':') {
            self.field_sel(&mut v)?;
            return Ok((v, true));
        }
        Ok((v, false))
    }

    fn func_stat(&mut self, line: u32) -> CResult<()> {
        self.next()?;
        let (v, is_method) = self.func_name()?;
        let mut b = self.body(is_method, line)?;
        self.check_readonly(&v)?;
        self.store_var(&v, &mut b)?;
        self.fix_line(line); // the definition "happens" in the first line
        Ok(())
    }

    fn expr_stat(&mut self) -> CResult<()> {
        let v = self.suffixed_exp()?;
        if self.is(b'=') || self.is(b',') {
            self.rest_assign(v)
        } else {
            match v.k {
                ExpKind::Call(pc) => {
                    if let Instruction::Call { c, .. } = &mut self.fs.code[pc] {
                        *c = 1; // statement: no results
                    }
                    Ok(())
                }
                _ => Err(self.syntax_error("syntax error")),
            }
        }
    }

    /// If a local/upvalue being assigned is used as table or index in a previous target of
    /// the same assignment, the previous target must use a copy (made now).
    fn check_conflict(&mut self, lhs: &mut [ExpDesc], v: &ExpDesc) -> CResult<()> {
        let extra = self.fs.free_reg as u8;
        let mut conflict = false;
        for lh in lhs.iter_mut() {
            match lh.k {
                ExpKind::IndexUp { up, k } if v.k == ExpKind::Upval(up) => {
                    conflict = true;
                    lh.k = ExpKind::IndexStr { t: extra, k };
                }
                ExpKind::IndexStr { t, .. } | ExpKind::IndexI { t, .. } => {
                    if let ExpKind::Local { reg, .. } = v.k {
                        if t == reg {
                            conflict = true;
                            match &mut lh.k {
                                ExpKind::IndexStr { t, .. } | ExpKind::IndexI { t, .. } => {
                                    *t = extra
                                }
                                _ => {}
                            }
                        }
                    }
                }
                ExpKind::Indexed { t, key } => {
                    if let ExpKind::Local { reg, .. } = v.k {
                        let mut nt = t;
                        let mut nk = key;
                        if t == reg {
                            conflict = true;
                            nt = extra;
                        }
                        if key == reg {
                            conflict = true;
                            nk = extra;
                        }
                        lh.k = ExpKind::Indexed { t: nt, key: nk };
                    }
                }
                _ => {}
            }
        }
        if conflict {
            match v.k {
                ExpKind::Local { reg, .. } => {
                    self.emit(Instruction::Move { a: extra, b: reg });
                }
                ExpKind::Upval(up) => {
                    self.emit(Instruction::GetUpval { a: extra, up });
                }
                _ => {}
            }
            self.reserve_regs(1)?;
        }
        Ok(())
    }

    /// `restassign -> {',' suffixedexp} '=' explist`
    fn rest_assign(&mut self, first: ExpDesc) -> CResult<()> {
        let mut lhs = vec![first];
        let mut levels = 0;
        loop {
            let last = lhs[lhs.len() - 1];
            if !last.is_var() {
                return Err(self.syntax_error("syntax error"));
            }
            self.check_readonly(&last)?;
            if !self.test_next(Tok::Char(b','))? {
                break;
            }
            let nv = self.suffixed_exp()?;
            if !nv.is_indexed() {
                self.check_conflict(&mut lhs, &nv)?;
            }
            self.enter_level()?; // PUC recurses here
            levels += 1;
            lhs.push(nv);
        }
        self.check_next(Tok::Char(b'='))?;
        let nvars = lhs.len();
        let (nexps, mut e) = self.explist()?;
        let mut direct = false;
        if nexps != nvars {
            self.adjust_assign(nvars, nexps, &mut e)?;
        } else {
            self.set_one_ret(&mut e);
            direct = true;
        }
        // store from the last target to the first
        for (i, var) in lhs.iter().enumerate().rev() {
            if i == nvars - 1 && direct {
                self.store_var(var, &mut e)?;
            } else {
                let r = (self.fs.free_reg - 1) as u8;
                let mut v = ExpDesc::new(ExpKind::NonReloc(r));
                self.store_var(var, &mut v)?;
            }
        }
        self.level -= levels;
        Ok(())
    }

    /// Adjusts `nexps` values (last one `e`) to `nvars` registers.
    fn adjust_assign(&mut self, nvars: usize, nexps: usize, e: &mut ExpDesc) -> CResult<()> {
        let needed = nvars as i64 - nexps as i64;
        if e.is_multret() {
            let extra = (needed + 1).max(0);
            self.set_returns(e, extra as i32)?;
        } else {
            if e.k != ExpKind::Void {
                self.exp_to_nextreg(e)?;
            }
            if needed > 0 {
                self.check_stack(needed as u32)?;
                self.load_nil(self.fs.free_reg as u8, needed as u32);
            }
        }
        if needed > 0 {
            self.reserve_regs(needed as u32)?;
        } else {
            self.fs.free_reg = (self.fs.free_reg as i64 + needed) as u32;
        }
        Ok(())
    }

    fn ret_stat(&mut self) -> CResult<()> {
        let mut first = self.fs.nvarstack();
        let nret: i32;
        if self.block_follow(true) || self.is(b';') {
            nret = 0;
        } else {
            let (n, mut e) = self.explist()?;
            if e.is_multret() {
                self.set_multret(&mut e)?;
                let in_tbc = self.fs.blocks.last().is_some_and(|b| b.inside_tbc);
                if let ExpKind::Call(pc) = e.k {
                    if n == 1 && !in_tbc {
                        if let Instruction::Call { a, b, .. } = self.fs.code[pc] {
                            self.fs.code[pc] = Instruction::TailCall { a, b };
                        }
                    }
                }
                nret = -1;
            } else if n == 1 {
                first = self.exp_to_anyreg(&mut e)? as u32;
                nret = 1;
            } else {
                self.exp_to_nextreg(&mut e)?;
                first = self.fs.nvarstack();
                nret = n as i32;
            }
        }
        self.ret(first, nret);
        self.test_next(Tok::Char(b';'))?;
        Ok(())
    }

    // ---------------------------------------------------------------- expressions

    fn explist(&mut self) -> CResult<(usize, ExpDesc)> {
        let mut n = 1;
        let mut e = self.expr()?;
        while self.test_next(Tok::Char(b','))? {
            self.exp_to_nextreg(&mut e)?;
            e = self.expr()?;
            n += 1;
        }
        Ok((n, e))
    }

    pub(crate) fn expr(&mut self) -> CResult<ExpDesc> {
        Ok(self.subexpr(0)?.0)
    }

    /// `subexpr -> (simpleexp | unop subexpr) { binop subexpr }` where binops have a left
    /// priority above `limit`. Returns the first operator not handled.
    fn subexpr(&mut self, limit: u8) -> CResult<(ExpDesc, Option<BinOp>)> {
        self.enter_level()?;
        let mut v = if let Some(uop) = unop(self.cur.tok) {
            let line = self.lex.line;
            self.next()?;
            let mut v = self.subexpr(UNARY_PRIORITY)?.0;
            self.prefix(uop, &mut v, line)?;
            v
        } else {
            self.simple_exp()?
        };
        let mut op = binop(self.cur.tok);
        while let Some(o) = op {
            let (left, right) = priority(o);
            if left <= limit {
                break;
            }
            let line = self.lex.line;
            self.next()?;
            self.infix(o, &mut v)?;
            let (mut v2, next_op) = self.subexpr(right)?;
            self.posfix(o, &mut v, &mut v2, line)?;
            op = next_op;
        }
        self.leave_level();
        Ok((v, op))
    }

    fn simple_exp(&mut self) -> CResult<ExpDesc> {
        let k = match self.cur.tok {
            Tok::Flt(f) => ExpKind::KFlt(f),
            Tok::Int(i) => ExpKind::KInt(i),
            Tok::Str(s) => ExpKind::KStr(s),
            Tok::Nil => ExpKind::Nil,
            Tok::True => ExpKind::True,
            Tok::False => ExpKind::False,
            Tok::Dots => {
                if !self.fs.is_vararg {
                    return Err(self.syntax_error("cannot use '...' outside a vararg function"));
                }
                ExpKind::VarArg(self.emit(Instruction::VarArg { a: 0, c: 1 }))
            }
            Tok::Char(b'{') => return self.constructor(),
            Tok::Function => {
                self.next()?;
                let line = self.lex.line;
                return self.body(false, line);
            }
            _ => return self.suffixed_exp(),
        };
        self.next()?;
        Ok(ExpDesc::new(k))
    }

    fn primary_exp(&mut self) -> CResult<ExpDesc> {
        match self.cur.tok {
            Tok::Char(b'(') => {
                let line = self.lex.line;
                self.next()?;
                let mut v = self.expr()?;
                self.check_match(Tok::Char(b')'), Tok::Char(b'('), line)?;
                self.discharge_vars(&mut v);
                Ok(v)
            }
            Tok::Name(_) => self.singlevar(),
            _ => Err(self.syntax_error("unexpected symbol")),
        }
    }

    fn field_sel(&mut self, v: &mut ExpDesc) -> CResult<()> {
        self.exp_to_anyregup(v)?;
        self.next()?; // skip the dot or colon
        let name = self.str_checkname()?;
        let mut key = ExpDesc::new(ExpKind::KStr(name));
        self.indexed(v, &mut key)
    }

    /// `[ exp ]`
    fn yindex(&mut self) -> CResult<ExpDesc> {
        self.next()?;
        let mut v = self.expr()?;
        self.exp_to_val(&mut v)?;
        self.check_next(Tok::Char(b']'))?;
        Ok(v)
    }

    fn suffixed_exp(&mut self) -> CResult<ExpDesc> {
        let mut v = self.primary_exp()?;
        loop {
            match self.cur.tok {
                Tok::Char(b'.') => self.field_sel(&mut v)?,
                Tok::Char(b'[') => {
                    self.exp_to_anyregup(&mut v)?;
                    let mut key = self.yindex()?;
                    self.indexed(&mut v, &mut key)?;
                }
                Tok::Char(b':') => {
                    self.next()?;
                    let name = self.str_checkname()?;
                    self.self_op(&mut v, name)?;
                    self.func_args(&mut v)?;
                }
                Tok::Char(b'(') | Tok::Str(_) | Tok::Char(b'{') => {
                    self.exp_to_nextreg(&mut v)?;
                    self.func_args(&mut v)?;
                }
                _ => return Ok(v),
            }
        }
    }

    /// The call's arguments and the call. Like PUC 5.4, the call's line (in error messages
    /// and `(to close '(' at line N)`) is the line of its arguments' first token, not of the
    /// called expression's start.
    fn func_args(&mut self, f: &mut ExpDesc) -> CResult<()> {
        let line = self.lex.line;
        let mut args = match self.cur.tok {
            Tok::Char(b'(') => {
                self.next()?;
                let args = if self.is(b')') {
                    ExpDesc::new(ExpKind::Void)
                } else {
                    let (_, mut a) = self.explist()?;
                    if a.is_multret() {
                        self.set_multret(&mut a)?;
                    }
                    a
                };
                self.check_match(Tok::Char(b')'), Tok::Char(b'('), line)?;
                args
            }
            Tok::Char(b'{') => self.constructor()?,
            Tok::Str(s) => {
                self.next()?;
                ExpDesc::new(ExpKind::KStr(s))
            }
            _ => return Err(self.syntax_error("function arguments expected")),
        };
        let base = Self::exp_reg(f);
        let b = if args.is_multret() {
            0
        } else {
            if args.k != ExpKind::Void {
                self.exp_to_nextreg(&mut args)?;
            }
            (self.fs.free_reg - base as u32) as u8 // nparams + 1
        };
        let pc = self.emit(Instruction::Call { a: base, b, c: 2 });
        self.fix_line(line);
        self.fs.free_reg = base as u32 + 1; // the call leaves one result (unless changed)
        f.k = ExpKind::Call(pc);
        Ok(())
    }

    // ---------------------------------------------------------------- table constructors

    fn constructor(&mut self) -> CResult<ExpDesc> {
        let line = self.lex.line;
        let pc = self.emit(Instruction::NewTable {
            a: 0,
            hash: 0,
            array: 0,
        });
        let treg = self.fs.free_reg as u8;
        self.reserve_regs(1)?;
        let mut cc = ConsControl {
            v: ExpDesc::new(ExpKind::Void),
            t: ExpDesc::new(ExpKind::NonReloc(treg)),
            nh: 0,
            na: 0,
            tostore: 0,
        };
        self.check_next(Tok::Char(b'{'))?;
        loop {
            if self.is(b'}') {
                break;
            }
            self.close_list_field(&mut cc)?;
            self.field(&mut cc)?;
            if !(self.test_next(Tok::Char(b','))? || self.test_next(Tok::Char(b';'))?) {
                break;
            }
        }
        self.check_match(Tok::Char(b'}'), Tok::Char(b'{'), line)?;
        self.last_list_field(&mut cc)?;
        self.fs.code[pc] = Instruction::NewTable {
            a: treg,
            hash: cc.nh.min(u16::MAX as u32) as u16,
            array: cc.na,
        };
        Ok(cc.t)
    }

    fn field(&mut self, cc: &mut ConsControl) -> CResult<()> {
        match self.cur.tok {
            Tok::Name(_) => {
                if self.lookahead()? != Tok::Char(b'=') {
                    self.list_field(cc)
                } else {
                    self.rec_field(cc)
                }
            }
            Tok::Char(b'[') => self.rec_field(cc),
            _ => self.list_field(cc),
        }
    }

    fn list_field(&mut self, cc: &mut ConsControl) -> CResult<()> {
        cc.v = self.expr()?;
        cc.tostore += 1;
        Ok(())
    }

    fn rec_field(&mut self, cc: &mut ConsControl) -> CResult<()> {
        let reg = self.fs.free_reg;
        let mut key = if let Tok::Name(n) = self.cur.tok {
            self.next()?;
            ExpDesc::new(ExpKind::KStr(n))
        } else {
            self.yindex()?
        };
        cc.nh = cc.nh.saturating_add(1);
        self.check_next(Tok::Char(b'='))?;
        let mut tab = cc.t;
        self.indexed(&mut tab, &mut key)?;
        let mut val = self.expr()?;
        self.store_var(&tab, &mut val)?;
        self.fs.free_reg = reg;
        Ok(())
    }

    fn close_list_field(&mut self, cc: &mut ConsControl) -> CResult<()> {
        if cc.v.k == ExpKind::Void {
            return Ok(());
        }
        self.exp_to_nextreg(&mut cc.v)?;
        cc.v.k = ExpKind::Void;
        if cc.tostore == FIELDS_PER_FLUSH {
            let t = Self::exp_reg(&cc.t);
            self.set_list(t, cc.na, cc.tostore as i32);
            cc.na += cc.tostore;
            cc.tostore = 0;
        }
        Ok(())
    }

    fn last_list_field(&mut self, cc: &mut ConsControl) -> CResult<()> {
        if cc.tostore == 0 {
            return Ok(());
        }
        let t = Self::exp_reg(&cc.t);
        if cc.v.is_multret() {
            self.set_multret(&mut cc.v)?;
            self.set_list(t, cc.na, -1);
            // don't count the last expression (unknown number of values)
            cc.na += cc.tostore - 1;
            return Ok(());
        } else {
            if cc.v.k != ExpKind::Void {
                self.exp_to_nextreg(&mut cc.v)?;
            }
            self.set_list(t, cc.na, cc.tostore as i32);
        }
        cc.na += cc.tostore;
        Ok(())
    }
}
