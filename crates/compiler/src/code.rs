//! Code generation: instruction emission, jump lists, register allocation and the
//! expression-descriptor operations (discharging, operators, stores).
//!
//! The algorithms follow the structure of PUC 5.4's code generator (jump lists threaded
//! through the offsets of pending `Jmp`s, relocatable expressions whose destination register
//! is set late, `TestSet` whose destination is patched when the jump list is resolved).

use crate::error::CompileError;
use crate::fold::{self, Num};
use crate::func_state::*;
use crate::lexer::StrId;
use crate::opcode::ArithOp;
use crate::opcode::Instruction::{self, *};
use crate::parser::Parser;
use crate::proto::Constant;

/// Errors are boxed to keep `Result`s small: the parser recurses, and frame sizes matter
/// (especially in debug builds).
pub(crate) type CResult<T> = Result<T, Box<CompileError>>;

/// Binary operators: the arithmetic and bitwise ones (`ArithOp`), then the others, in PUC's
/// order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum BinOp {
    Arith(ArithOp),
    Concat,
    Eq,
    Lt,
    Le,
    Ne,
    Gt,
    Ge,
    And,
    Or,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum UnOp {
    Minus,
    BNot,
    Not,
    Len,
}

/// Sets the destination register of a relocatable instruction.
fn set_a(i: &mut Instruction, reg: u8) {
    match i.result_register_mut() {
        Some(a) => *a = reg,
        None => debug_assert!(false, "set_a on {i:?}"),
    }
}

fn negate(i: &mut Instruction) {
    match i {
        Eq { k, .. }
        | Lt { k, .. }
        | Le { k, .. }
        | EqK { k, .. }
        | EqI { k, .. }
        | LtI { k, .. }
        | LeI { k, .. }
        | GtI { k, .. }
        | GeI { k, .. }
        | Test { k, .. }
        | TestSet { k, .. } => *k = !*k,
        _ => debug_assert!(false, "negate on {i:?}"),
    }
}

fn fits_i16(i: i64) -> bool {
    i16::try_from(i).is_ok()
}

impl Parser<'_> {
    // ---------------------------------------------------------------- emission

    /// Appends an instruction (with the line of the last token read) and returns its pc.
    pub(crate) fn emit(&mut self, i: Instruction) -> usize {
        let cap = self.fs.code.capacity();
        self.fs.code.push(i);
        self.fs.lines.push(self.last_line);
        let grown = self.fs.code.capacity() - cap;
        if grown != 0 {
            // code and lines grow together (an instruction and its line number)
            self.note_mem(grown * (std::mem::size_of::<Instruction>() + 4));
        }
        self.fs.code.len() - 1
    }

    /// Changes the line of the last instruction.
    pub(crate) fn fix_line(&mut self, line: u32) {
        if let Some(l) = self.fs.lines.last_mut() {
            *l = line;
        }
    }

    /// Marks the current pc as a jump target and returns it.
    pub(crate) fn get_label(&mut self) -> usize {
        self.fs.last_target = self.fs.pc();
        self.fs.pc()
    }

    /// The previous instruction, if it may be merged with a new one (not a jump target).
    fn previous_instruction(&self) -> Option<usize> {
        let pc = self.fs.pc();
        if pc > self.fs.last_target {
            Some(pc - 1)
        } else {
            None
        }
    }

    fn remove_last_instruction(&mut self) {
        self.fs.code.pop();
        self.fs.lines.pop();
    }

    // ---------------------------------------------------------------- jumps

    /// Emits a pending `Jmp` and returns its pc (a one-element jump list).
    pub(crate) fn jump(&mut self) -> i32 {
        self.emit(Jmp { off: NO_JUMP }) as i32
    }

    pub(crate) fn jump_to(&mut self, target: usize) {
        let j = self.jump();
        self.patch_list(j, target);
    }

    /// Next element of a jump list.
    fn get_jump(&self, pc: usize) -> i32 {
        match self.fs.code[pc] {
            Jmp { off } if off != NO_JUMP => pc as i32 + 1 + off,
            _ => NO_JUMP,
        }
    }

    fn fix_jump(&mut self, pc: usize, dest: usize) {
        let off = dest as i64 - (pc as i64 + 1);
        if let Jmp { off: o } = &mut self.fs.code[pc] {
            *o = off as i32;
        } else {
            debug_assert!(false, "fix_jump on a non-jump");
        }
    }

    /// Appends jump list `l2` to jump list `l1`.
    pub(crate) fn concat_jumps(&mut self, l1: &mut i32, l2: i32) {
        if l2 == NO_JUMP {
            return;
        }
        if *l1 == NO_JUMP {
            *l1 = l2;
            return;
        }
        if self.get_jump(l2 as usize) == NO_JUMP {
            // `l2` is a single jump: put it in front (the order of a list doesn't matter),
            // which keeps long `and`/`or`/`elseif` chains linear instead of quadratic
            self.fix_jump(l2 as usize, *l1 as usize);
            *l1 = l2;
            return;
        }
        let mut list = *l1 as usize;
        loop {
            let next = self.get_jump(list);
            if next == NO_JUMP {
                break;
            }
            list = next as usize;
        }
        self.fix_jump(list, l2 as usize);
    }

    /// The instruction controlling a jump (its condition), or the jump itself.
    fn jump_control(&self, pc: usize) -> usize {
        if pc >= 1 && self.fs.code[pc - 1].is_test() {
            pc - 1
        } else {
            pc
        }
    }

    /// If the jump at `node` is controlled by a `TestSet`, sets its destination to `reg`
    /// or turns it into a plain `Test` (when `reg` is `NO_REG` or the tested register).
    fn patch_test_reg(&mut self, node: usize, reg: u8) -> bool {
        let i = self.jump_control(node);
        if let TestSet { b, k, .. } = self.fs.code[i] {
            self.fs.code[i] = if reg != NO_REG && reg != b {
                TestSet { a: reg, b, k }
            } else {
                Test { a: b, k }
            };
            true
        } else {
            false
        }
    }

    fn remove_values(&mut self, mut list: i32) {
        while list != NO_JUMP {
            self.patch_test_reg(list as usize, NO_REG);
            list = self.get_jump(list as usize);
        }
    }

    fn patch_list_aux(&mut self, mut list: i32, vtarget: usize, reg: u8, dtarget: usize) {
        while list != NO_JUMP {
            let next = self.get_jump(list as usize);
            if self.patch_test_reg(list as usize, reg) {
                self.fix_jump(list as usize, vtarget);
            } else {
                self.fix_jump(list as usize, dtarget);
            }
            list = next;
        }
    }

    pub(crate) fn patch_list(&mut self, list: i32, target: usize) {
        self.patch_list_aux(list, target, NO_REG, target);
    }

    pub(crate) fn patch_to_here(&mut self, list: i32) {
        let here = self.get_label();
        self.patch_list(list, here);
    }

    /// Whether some jump in the list needs to produce a value (is not a `TestSet`).
    fn need_value(&self, mut list: i32) -> bool {
        while list != NO_JUMP {
            let i = self.jump_control(list as usize);
            if !matches!(self.fs.code[i], TestSet { .. }) {
                return true;
            }
            list = self.get_jump(list as usize);
        }
        false
    }

    fn cond_jump(&mut self, i: Instruction) -> i32 {
        self.emit(i);
        self.jump()
    }

    // ---------------------------------------------------------------- constants

    fn add_constant(&mut self, key: ConstKey, c: Constant) -> u32 {
        if let Some(&idx) = self.fs.const_map.get(&key) {
            return idx;
        }
        let idx = self.fs.constants.len() as u32;
        let bytes = match &c {
            Constant::String(s) => s.len(),
            _ => 0,
        };
        self.note_mem(crate::parser::CONST_COST + bytes);
        self.fs.constants.push(c);
        self.fs.const_map.insert(key, idx);
        idx
    }

    pub(crate) fn string_k(&mut self, s: StrId) -> u32 {
        if let Some(&idx) = self.fs.const_map.get(&ConstKey::Str(s)) {
            return idx;
        }
        let bytes: std::sync::Arc<[u8]> = self.lex.interner.get(s).into();
        self.add_constant(ConstKey::Str(s), Constant::String(bytes))
    }

    fn int_k(&mut self, i: i64) -> u32 {
        self.add_constant(ConstKey::Int(i), Constant::Integer(i))
    }

    fn float_k(&mut self, f: f64) -> u32 {
        self.add_constant(ConstKey::Flt(f.to_bits()), Constant::Float(f))
    }

    fn is_string_k(&self, idx: u32) -> bool {
        matches!(
            self.fs.constants.get(idx as usize),
            Some(Constant::String(_))
        )
    }

    // ---------------------------------------------------------------- registers

    /// Ensures `n` more registers (above `free_reg`) are available.
    pub(crate) fn check_stack(&mut self, n: u32) -> CResult<()> {
        let new_stack = self.fs.free_reg + n;
        if new_stack > self.fs.max_stack {
            if new_stack >= MAX_REGS {
                return Err(self.syntax_error("function or expression needs too many registers"));
            }
            self.fs.max_stack = new_stack;
        }
        Ok(())
    }

    pub(crate) fn reserve_regs(&mut self, n: u32) -> CResult<()> {
        self.check_stack(n)?;
        self.fs.free_reg += n;
        Ok(())
    }

    /// Frees a register if it is a temporary (temporaries are freed in stack order).
    fn free_reg(&mut self, reg: u8) {
        if reg as u32 >= self.fs.nvarstack() {
            self.fs.free_reg = self.fs.free_reg.saturating_sub(1);
            debug_assert_eq!(reg as u32, self.fs.free_reg, "registers freed out of order");
        }
    }

    fn free_regs(&mut self, r1: u8, r2: u8) {
        if r1 > r2 {
            self.free_reg(r1);
            self.free_reg(r2);
        } else {
            self.free_reg(r2);
            self.free_reg(r1);
        }
    }

    fn free_exp(&mut self, e: &ExpDesc) {
        if let ExpKind::NonReloc(r) = e.k {
            self.free_reg(r);
        }
    }

    fn free_exps(&mut self, e1: &ExpDesc, e2: &ExpDesc) {
        let r1 = match e1.k {
            ExpKind::NonReloc(r) => Some(r),
            _ => None,
        };
        let r2 = match e2.k {
            ExpKind::NonReloc(r) => Some(r),
            _ => None,
        };
        match (r1, r2) {
            (Some(a), Some(b)) => self.free_regs(a, b),
            (Some(a), None) | (None, Some(a)) => self.free_reg(a),
            (None, None) => {}
        }
    }

    /// Register of an expression that is known to be in a fixed register.
    pub(crate) fn exp_reg(e: &ExpDesc) -> u8 {
        match e.k {
            ExpKind::NonReloc(r) => r,
            _ => {
                debug_assert!(false, "expression not in a register: {e:?}");
                0
            }
        }
    }

    // ---------------------------------------------------------------- loads

    /// `R[from..from+n] = nil`, merged with a preceding `LoadNil` when possible.
    pub(crate) fn load_nil(&mut self, from: u8, n: u32) {
        let mut from = from as u32;
        let mut last = from + n - 1;
        if let Some(prev) = self.previous_instruction() {
            if let LoadNil { a, n: pn } = self.fs.code[prev] {
                let pfrom = a as u32;
                let plast = pfrom + pn as u32;
                if (pfrom <= from && from <= plast + 1) || (from <= pfrom && pfrom <= last + 1) {
                    from = from.min(pfrom);
                    last = last.max(plast);
                    self.fs.code[prev] = LoadNil {
                        a: from as u8,
                        n: (last - from) as u8,
                    };
                    return;
                }
            }
        }
        self.emit(LoadNil {
            a: from as u8,
            n: (n - 1) as u8,
        });
    }

    pub(crate) fn load_int(&mut self, reg: u8, i: i64) {
        if let Ok(v) = i32::try_from(i) {
            self.emit(LoadI { a: reg, i: v });
        } else {
            let k = self.int_k(i);
            self.emit(LoadK { a: reg, k });
        }
    }

    fn load_float(&mut self, reg: u8, f: f64) {
        if let Some(i) = fold::float_to_int(f) {
            if let Ok(v) = i32::try_from(i) {
                if !(f == 0.0 && f.is_sign_negative()) {
                    self.emit(LoadF { a: reg, f: v });
                    return;
                }
            }
        }
        let k = self.float_k(f);
        self.emit(LoadK { a: reg, k });
    }

    // ---------------------------------------------------------------- calls

    /// Fixes the number of results of an open call or vararg (`-1`: all results).
    pub(crate) fn set_returns(&mut self, e: &mut ExpDesc, nresults: i32) -> CResult<()> {
        let c = (nresults + 1) as u8;
        match e.k {
            ExpKind::Call(pc) => {
                if let Call { c: cc, .. } = &mut self.fs.code[pc] {
                    *cc = c;
                }
            }
            ExpKind::VarArg(pc) => {
                let free = self.fs.free_reg as u8;
                if let VarArg { a, c: cc } = &mut self.fs.code[pc] {
                    *cc = c;
                    *a = free;
                }
                self.reserve_regs(1)?;
            }
            _ => debug_assert!(false, "set_returns on {e:?}"),
        }
        Ok(())
    }

    pub(crate) fn set_multret(&mut self, e: &mut ExpDesc) -> CResult<()> {
        self.set_returns(e, -1)
    }

    /// Makes an open call or vararg produce exactly one value.
    pub(crate) fn set_one_ret(&mut self, e: &mut ExpDesc) {
        match e.k {
            ExpKind::Call(pc) => {
                if let Call { a, .. } = self.fs.code[pc] {
                    e.k = ExpKind::NonReloc(a);
                }
            }
            ExpKind::VarArg(pc) => {
                if let VarArg { c, .. } = &mut self.fs.code[pc] {
                    *c = 2;
                }
                e.k = ExpKind::Reloc(pc);
            }
            _ => {}
        }
    }

    // ---------------------------------------------------------------- discharging

    /// Turns a variable expression into a value expression (emitting the load if needed).
    pub(crate) fn discharge_vars(&mut self, e: &mut ExpDesc) {
        match e.k {
            ExpKind::Const(c) => e.k = self.ctc_to_kind(c),
            ExpKind::Local { reg, .. } => e.k = ExpKind::NonReloc(reg),
            ExpKind::Upval(up) => e.k = ExpKind::Reloc(self.emit(GetUpval { a: 0, up })),
            ExpKind::IndexUp { up, k } => {
                e.k = ExpKind::Reloc(self.emit(GetTabUp { a: 0, up, k }));
            }
            ExpKind::IndexI { t, i } => {
                self.free_reg(t);
                e.k = ExpKind::Reloc(self.emit(GetI { a: 0, b: t, c: i }));
            }
            ExpKind::IndexStr { t, k } => {
                self.free_reg(t);
                e.k = ExpKind::Reloc(self.emit(GetField { a: 0, b: t, k }));
            }
            ExpKind::Indexed { t, key } => {
                self.free_regs(t, key);
                e.k = ExpKind::Reloc(self.emit(GetTable { a: 0, b: t, c: key }));
            }
            ExpKind::Call(_) | ExpKind::VarArg(_) => self.set_one_ret(e),
            _ => {}
        }
    }

    fn ctc_to_kind(&self, c: u32) -> ExpKind {
        match self.ctc_values[c as usize].1 {
            CtcValue::Nil => ExpKind::Nil,
            CtcValue::Bool(true) => ExpKind::True,
            CtcValue::Bool(false) => ExpKind::False,
            CtcValue::Int(i) => ExpKind::KInt(i),
            CtcValue::Flt(f) => ExpKind::KFlt(f),
            CtcValue::Str(s) => ExpKind::KStr(s),
        }
    }

    /// Puts the value of `e` in register `reg` (jump lists are left alone).
    fn discharge_to_reg(&mut self, e: &mut ExpDesc, reg: u8) {
        self.discharge_vars(e);
        match e.k {
            ExpKind::Nil => self.load_nil(reg, 1),
            ExpKind::False => {
                self.emit(LoadFalse { a: reg });
            }
            ExpKind::True => {
                self.emit(LoadTrue { a: reg });
            }
            ExpKind::KStr(s) => {
                let k = self.string_k(s);
                self.emit(LoadK { a: reg, k });
            }
            ExpKind::K(k) => {
                self.emit(LoadK { a: reg, k });
            }
            ExpKind::KFlt(f) => self.load_float(reg, f),
            ExpKind::KInt(i) => self.load_int(reg, i),
            ExpKind::Reloc(pc) => set_a(&mut self.fs.code[pc], reg),
            ExpKind::NonReloc(r) => {
                if r != reg {
                    self.emit(Move { a: reg, b: r });
                }
            }
            ExpKind::Jmp(_) => return,
            _ => {
                debug_assert!(false, "discharge_to_reg on {e:?}");
                return;
            }
        }
        e.k = ExpKind::NonReloc(reg);
    }

    fn discharge_to_any_reg(&mut self, e: &mut ExpDesc) -> CResult<()> {
        if !matches!(e.k, ExpKind::NonReloc(_)) {
            self.reserve_regs(1)?;
            let r = (self.fs.free_reg - 1) as u8;
            self.discharge_to_reg(e, r);
        }
        Ok(())
    }

    fn code_loadbool(&mut self, i: Instruction) -> usize {
        self.get_label();
        self.emit(i)
    }

    /// Puts the final value of `e` (including its jump lists) in register `reg`.
    fn exp_to_reg(&mut self, e: &mut ExpDesc, reg: u8) {
        self.discharge_to_reg(e, reg);
        if let ExpKind::Jmp(pc) = e.k {
            let mut t = e.t;
            self.concat_jumps(&mut t, pc as i32);
            e.t = t;
        }
        if e.has_jumps() {
            let mut p_f = usize::MAX; // position of an eventual LoadFalseSkip
            let mut p_t = usize::MAX; // position of an eventual LoadTrue
            if self.need_value(e.t) || self.need_value(e.f) {
                let fj = if matches!(e.k, ExpKind::Jmp(_)) {
                    NO_JUMP
                } else {
                    self.jump()
                };
                p_f = self.code_loadbool(LoadFalseSkip { a: reg });
                p_t = self.code_loadbool(LoadTrue { a: reg });
                self.patch_to_here(fj);
            }
            let final_pc = self.get_label();
            self.patch_list_aux(e.f, final_pc, reg, p_f);
            self.patch_list_aux(e.t, final_pc, reg, p_t);
        }
        e.t = NO_JUMP;
        e.f = NO_JUMP;
        e.k = ExpKind::NonReloc(reg);
    }

    /// Puts `e` in the next free register.
    pub(crate) fn exp_to_nextreg(&mut self, e: &mut ExpDesc) -> CResult<()> {
        self.discharge_vars(e);
        self.free_exp(e);
        self.reserve_regs(1)?;
        let r = (self.fs.free_reg - 1) as u8;
        self.exp_to_reg(e, r);
        Ok(())
    }

    /// Puts `e` in some register and returns it.
    pub(crate) fn exp_to_anyreg(&mut self, e: &mut ExpDesc) -> CResult<u8> {
        self.discharge_vars(e);
        if let ExpKind::NonReloc(r) = e.k {
            if !e.has_jumps() {
                return Ok(r);
            }
            if r as u32 >= self.fs.nvarstack() {
                // a temporary: can hold the final value itself
                self.exp_to_reg(e, r);
                return Ok(r);
            }
            // a local variable with jumps: needs a new register
        }
        self.exp_to_nextreg(e)?;
        Ok(Self::exp_reg(e))
    }

    /// Like `exp_to_anyreg`, but an upvalue may stay an upvalue.
    pub(crate) fn exp_to_anyregup(&mut self, e: &mut ExpDesc) -> CResult<()> {
        if !matches!(e.k, ExpKind::Upval(_)) || e.has_jumps() {
            self.exp_to_anyreg(e)?;
        }
        Ok(())
    }

    /// Makes `e` a value (in a register or a constant).
    pub(crate) fn exp_to_val(&mut self, e: &mut ExpDesc) -> CResult<()> {
        if e.has_jumps() {
            self.exp_to_anyreg(e)?;
        } else {
            self.discharge_vars(e);
        }
        Ok(())
    }

    /// Tries to make `e` a `K` operand (index fitting 16 bits).
    fn exp_to_k(&mut self, e: &mut ExpDesc) -> bool {
        if e.has_jumps() {
            return false;
        }
        let idx = match e.k {
            ExpKind::True => self.add_constant(ConstKey::Bool(true), Constant::Boolean(true)),
            ExpKind::False => self.add_constant(ConstKey::Bool(false), Constant::Boolean(false)),
            ExpKind::Nil => self.add_constant(ConstKey::Nil, Constant::Nil),
            ExpKind::KInt(i) => self.int_k(i),
            ExpKind::KFlt(f) => self.float_k(f),
            ExpKind::KStr(s) => self.string_k(s),
            ExpKind::K(k) => k,
            _ => return false,
        };
        if idx <= MAX_K16 {
            e.k = ExpKind::K(idx);
            true
        } else {
            false
        }
    }

    /// `RK` operand: a constant index (`ck == true`) or a register.
    fn exp_to_rk(&mut self, e: &mut ExpDesc) -> CResult<(u16, bool)> {
        if self.exp_to_k(e) {
            if let ExpKind::K(k) = e.k {
                return Ok((k as u16, true));
            }
        }
        Ok((self.exp_to_anyreg(e)? as u16, false))
    }

    /// Value of `e` if it is a compile-time constant (for `<const>` locals).
    pub(crate) fn exp_to_const(&self, e: &ExpDesc) -> Option<CtcValue> {
        if e.has_jumps() {
            return None;
        }
        Some(match e.k {
            ExpKind::False => CtcValue::Bool(false),
            ExpKind::True => CtcValue::Bool(true),
            ExpKind::Nil => CtcValue::Nil,
            ExpKind::KStr(s) => CtcValue::Str(s),
            ExpKind::KInt(i) => CtcValue::Int(i),
            ExpKind::KFlt(f) => CtcValue::Flt(f),
            ExpKind::Const(c) => self.ctc_values[c as usize].1,
            _ => return None,
        })
    }

    // ---------------------------------------------------------------- stores & indexing

    /// Generates `var = ex`.
    pub(crate) fn store_var(&mut self, var: &ExpDesc, ex: &mut ExpDesc) -> CResult<()> {
        match var.k {
            ExpKind::Local { reg, .. } => {
                self.free_exp(ex);
                self.exp_to_reg(ex, reg);
                return Ok(());
            }
            ExpKind::Upval(up) => {
                let a = self.exp_to_anyreg(ex)?;
                self.emit(SetUpval { a, up });
            }
            ExpKind::IndexUp { up, k } => {
                let (c, ck) = self.exp_to_rk(ex)?;
                self.emit(SetTabUp {
                    up,
                    k: k as u16,
                    c,
                    ck,
                });
            }
            ExpKind::IndexI { t, i } => {
                let (c, ck) = self.exp_to_rk(ex)?;
                self.emit(SetI { a: t, b: i, c, ck });
            }
            ExpKind::IndexStr { t, k } => {
                let (c, ck) = self.exp_to_rk(ex)?;
                self.emit(SetField {
                    a: t,
                    k: k as u16,
                    c,
                    ck,
                });
            }
            ExpKind::Indexed { t, key } => {
                let (c, ck) = self.exp_to_rk(ex)?;
                self.emit(SetTable {
                    a: t,
                    b: key,
                    c,
                    ck,
                });
            }
            _ => debug_assert!(false, "store_var on {var:?}"),
        }
        self.free_exp(ex);
        Ok(())
    }

    /// `e:key(...)` preparation: `R[base+1] = e; R[base] = e[key]`.
    pub(crate) fn self_op(&mut self, e: &mut ExpDesc, key: StrId) -> CResult<()> {
        let ereg = self.exp_to_anyreg(e)?;
        self.free_exp(e);
        let base = self.fs.free_reg as u8;
        e.k = ExpKind::NonReloc(base);
        self.reserve_regs(2)?;
        let k = self.string_k(key);
        self.emit(SelfK {
            a: base,
            b: ereg,
            k,
        });
        Ok(())
    }

    /// Turns `t` (a register or upvalue) into the indexed expression `t[k]`.
    pub(crate) fn indexed(&mut self, t: &mut ExpDesc, k: &mut ExpDesc) -> CResult<()> {
        if let ExpKind::KStr(s) = k.k {
            if !k.has_jumps() {
                k.k = ExpKind::K(self.string_k(s));
            }
        }
        let kstr = match k.k {
            ExpKind::K(idx) if !k.has_jumps() && idx <= MAX_K16 && self.is_string_k(idx) => {
                Some(idx)
            }
            _ => None,
        };
        if matches!(t.k, ExpKind::Upval(_)) && kstr.is_none() {
            self.exp_to_anyreg(t)?;
        }
        if let ExpKind::Upval(up) = t.k {
            if let Some(idx) = kstr {
                t.k = ExpKind::IndexUp { up, k: idx };
                return Ok(());
            }
        }
        let treg = match t.k {
            ExpKind::Local { reg, .. } | ExpKind::NonReloc(reg) => reg,
            _ => {
                debug_assert!(false, "indexed on {t:?}");
                0
            }
        };
        t.k = if let Some(idx) = kstr {
            ExpKind::IndexStr { t: treg, k: idx }
        } else {
            match k.k {
                ExpKind::KInt(i) if !k.has_jumps() && (0..=255).contains(&i) => ExpKind::IndexI {
                    t: treg,
                    i: i as u8,
                },
                _ => {
                    let key = self.exp_to_anyreg(k)?;
                    ExpKind::Indexed { t: treg, key }
                }
            }
        };
        Ok(())
    }

    // ---------------------------------------------------------------- conditions

    fn negate_condition(&mut self, pc: usize) {
        let c = self.jump_control(pc);
        negate(&mut self.fs.code[c]);
    }

    /// Emits a jump taken when `e`'s truth equals `cond`.
    fn jump_on_cond(&mut self, e: &mut ExpDesc, cond: bool) -> CResult<i32> {
        if let ExpKind::Reloc(pc) = e.k {
            if let Not { b, .. } = self.fs.code[pc] {
                if pc + 1 == self.fs.pc() {
                    self.remove_last_instruction();
                    return Ok(self.cond_jump(Test { a: b, k: !cond }));
                }
            }
        }
        self.discharge_to_any_reg(e)?;
        self.free_exp(e);
        let b = Self::exp_reg(e);
        Ok(self.cond_jump(TestSet {
            a: NO_REG,
            b,
            k: cond,
        }))
    }

    /// Emits code to fall through when `e` is true and jump (via `e.f`) when false.
    pub(crate) fn go_if_true(&mut self, e: &mut ExpDesc) -> CResult<()> {
        self.go_if(e, true)
    }

    /// Emits code to fall through when `e` is false and jump (via `e.t`) when true.
    pub(crate) fn go_if_false(&mut self, e: &mut ExpDesc) -> CResult<()> {
        self.go_if(e, false)
    }

    /// Emits code to fall through when `e`'s truth is `value` and jump otherwise: the jump
    /// joins the list that jumps on the other value (`e.f` when `value`, else `e.t`), and the
    /// list that jumps on `value` lands here (emptied).
    fn go_if(&mut self, e: &mut ExpDesc, value: bool) -> CResult<()> {
        self.discharge_vars(e);
        let pc = match e.k {
            ExpKind::Jmp(pc) => {
                if value {
                    self.negate_condition(pc);
                }
                pc as i32
            }
            // (A constant of the wanted truth never jumps.)
            ExpKind::K(_)
            | ExpKind::KFlt(_)
            | ExpKind::KInt(_)
            | ExpKind::KStr(_)
            | ExpKind::True
                if value =>
            {
                NO_JUMP
            }
            ExpKind::Nil | ExpKind::False if !value => NO_JUMP,
            _ => self.jump_on_cond(e, !value)?,
        };
        let (other, here) = if value { (e.f, e.t) } else { (e.t, e.f) };
        let mut other = other;
        self.concat_jumps(&mut other, pc);
        self.patch_to_here(here);
        if value {
            (e.f, e.t) = (other, NO_JUMP);
        } else {
            (e.t, e.f) = (other, NO_JUMP);
        }
        Ok(())
    }

    fn code_not(&mut self, e: &mut ExpDesc) -> CResult<()> {
        match e.k {
            ExpKind::Nil | ExpKind::False => e.k = ExpKind::True,
            ExpKind::K(_)
            | ExpKind::KFlt(_)
            | ExpKind::KInt(_)
            | ExpKind::KStr(_)
            | ExpKind::True => e.k = ExpKind::False,
            ExpKind::Jmp(pc) => self.negate_condition(pc),
            ExpKind::Reloc(_) | ExpKind::NonReloc(_) => {
                self.discharge_to_any_reg(e)?;
                self.free_exp(e);
                let b = Self::exp_reg(e);
                e.k = ExpKind::Reloc(self.emit(Not { a: 0, b }));
            }
            _ => debug_assert!(false, "code_not on {e:?}"),
        }
        std::mem::swap(&mut e.t, &mut e.f);
        self.remove_values(e.f);
        self.remove_values(e.t);
        Ok(())
    }

    // ---------------------------------------------------------------- operators

    fn to_numeral(e: &ExpDesc) -> Option<Num> {
        if e.has_jumps() {
            return None;
        }
        match e.k {
            ExpKind::KInt(i) => Some(Num::Int(i)),
            ExpKind::KFlt(f) => Some(Num::Flt(f)),
            _ => None,
        }
    }

    /// Integer constant fitting a signed 16-bit immediate.
    fn sc_int(e: &ExpDesc) -> Option<i16> {
        match e.k {
            ExpKind::KInt(i) if !e.has_jumps() && fits_i16(i) => Some(i as i16),
            _ => None,
        }
    }

    /// Numeric constant with an integral value fitting an immediate; `.1`: written as float.
    fn sc_number(e: &ExpDesc) -> Option<(i16, bool)> {
        if e.has_jumps() {
            return None;
        }
        let (i, float) = match e.k {
            ExpKind::KInt(i) => (i, false),
            ExpKind::KFlt(f) => (fold::float_to_int(f)?, true),
            _ => return None,
        };
        if fits_i16(i) {
            Some((i as i16, float))
        } else {
            None
        }
    }

    fn const_folding(op: ArithOp, e1: &mut ExpDesc, e2: &ExpDesc) -> bool {
        let (Some(a), Some(b)) = (Self::to_numeral(e1), Self::to_numeral(e2)) else {
            return false;
        };
        match fold::fold(op, a, b) {
            Some(Num::Int(i)) => e1.k = ExpKind::KInt(i),
            Some(Num::Flt(f)) => e1.k = ExpKind::KFlt(f),
            None => return false,
        }
        true
    }

    /// Applies a unary operator.
    pub(crate) fn prefix(&mut self, op: UnOp, e: &mut ExpDesc, line: u32) -> CResult<()> {
        self.discharge_vars(e);
        let fake = ExpDesc::new(ExpKind::KInt(0));
        match op {
            UnOp::Minus | UnOp::BNot => {
                let aop = if op == UnOp::Minus {
                    ArithOp::Unm
                } else {
                    ArithOp::BNot
                };
                if Self::const_folding(aop, e, &fake) {
                    return Ok(());
                }
                self.code_unexpval(op, e, line)
            }
            UnOp::Len => self.code_unexpval(op, e, line),
            UnOp::Not => self.code_not(e),
        }
    }

    fn code_unexpval(&mut self, op: UnOp, e: &mut ExpDesc, line: u32) -> CResult<()> {
        let b = self.exp_to_anyreg(e)?;
        self.free_exp(e);
        let i = match op {
            UnOp::Minus => Unm { a: 0, b },
            UnOp::BNot => BNot { a: 0, b },
            _ => Len { a: 0, b },
        };
        e.k = ExpKind::Reloc(self.emit(i));
        self.fix_line(line);
        Ok(())
    }

    /// Processes the first operand of a binary operator before the second is read.
    pub(crate) fn infix(&mut self, op: BinOp, v: &mut ExpDesc) -> CResult<()> {
        self.discharge_vars(v);
        match op {
            BinOp::And => self.go_if_true(v)?,
            BinOp::Or => self.go_if_false(v)?,
            BinOp::Concat => self.exp_to_nextreg(v)?,
            BinOp::Eq | BinOp::Ne => {
                if Self::to_numeral(v).is_none() {
                    let is_const = !v.has_jumps()
                        && matches!(
                            v.k,
                            ExpKind::Nil | ExpKind::True | ExpKind::False | ExpKind::KStr(_)
                        );
                    if !(is_const && self.exp_to_k(v)) {
                        self.exp_to_anyreg(v)?;
                    }
                }
            }
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                if Self::sc_number(v).is_none() {
                    self.exp_to_anyreg(v)?;
                }
            }
            _ => {
                if Self::to_numeral(v).is_none() {
                    self.exp_to_anyreg(v)?;
                }
            }
        }
        Ok(())
    }

    /// Finishes a binary operation `e1 op e2` (result in `e1`).
    pub(crate) fn posfix(
        &mut self,
        op: BinOp,
        e1: &mut ExpDesc,
        e2: &mut ExpDesc,
        line: u32,
    ) -> CResult<()> {
        self.discharge_vars(e2);
        if let BinOp::Arith(aop) = op {
            if Self::const_folding(aop, e1, e2) {
                return Ok(());
            }
        }
        match op {
            BinOp::And => {
                debug_assert_eq!(e1.t, NO_JUMP);
                let mut f = e2.f;
                self.concat_jumps(&mut f, e1.f);
                e2.f = f;
                *e1 = *e2;
            }
            BinOp::Or => {
                debug_assert_eq!(e1.f, NO_JUMP);
                let mut t = e2.t;
                self.concat_jumps(&mut t, e1.t);
                e2.t = t;
                *e1 = *e2;
            }
            BinOp::Concat => {
                self.exp_to_nextreg(e2)?;
                self.code_concat(e1, e2, line);
            }
            BinOp::Arith(ArithOp::Add | ArithOp::Mul) => {
                // Commutative: a numeral on the left moves to the right so that it can be an
                // immediate or a constant operand (PUC's `codecommutative`); `flip` keeps the
                // source order for metamethods and errors.
                let flip = Self::to_numeral(e1).is_some();
                if flip {
                    std::mem::swap(e1, e2);
                }
                match Self::sc_int(e2) {
                    Some(i) if op == BinOp::Arith(ArithOp::Add) => {
                        let b = self.exp_to_anyreg(e1)?;
                        self.finish_unary_like(e1, AddI { a: 0, b, i, flip }, line);
                    }
                    _ => {
                        if Self::to_numeral(e2).is_some() && self.exp_to_k(e2) {
                            self.code_bin_k(op, e1, e2, line, flip)?;
                        } else {
                            if flip {
                                std::mem::swap(e1, e2);
                            }
                            self.code_bin_exp_val(op, e1, e2, line)?;
                        }
                    }
                }
            }
            // (The unary operators are never a `BinOp`: the parser makes none.)
            BinOp::Arith(
                ArithOp::Sub
                | ArithOp::Div
                | ArithOp::IDiv
                | ArithOp::Mod
                | ArithOp::Pow
                | ArithOp::Unm
                | ArithOp::BNot,
            ) => self.code_arith(op, e1, e2, line)?,
            BinOp::Arith(ArithOp::BAnd | ArithOp::BOr | ArithOp::BXor) => {
                if matches!(e2.k, ExpKind::KInt(_)) && self.exp_to_k(e2) {
                    self.code_bin_k(op, e1, e2, line, false)?;
                } else {
                    self.code_bin_exp_val(op, e1, e2, line)?;
                }
            }
            BinOp::Arith(ArithOp::Shl) => {
                if let Some(i) = Self::sc_int(e1) {
                    // i << R[b]
                    let b = self.exp_to_anyreg(e2)?;
                    self.free_exp(e2);
                    e1.k = ExpKind::Reloc(self.emit(ShlI { a: 0, b, i }));
                    self.fix_line(line);
                } else {
                    self.code_bin_exp_val(op, e1, e2, line)?;
                }
            }
            BinOp::Arith(ArithOp::Shr) => {
                if let Some(i) = Self::sc_int(e2) {
                    let b = self.exp_to_anyreg(e1)?;
                    self.finish_unary_like(e1, ShrI { a: 0, b, i }, line);
                } else {
                    self.code_bin_exp_val(op, e1, e2, line)?;
                }
            }
            BinOp::Eq | BinOp::Ne => self.code_eq(op == BinOp::Eq, e1, e2)?,
            BinOp::Gt | BinOp::Ge => {
                // a > b  <=>  b < a;  a >= b  <=>  b <= a
                std::mem::swap(e1, e2);
                self.code_order(op == BinOp::Ge, e1, e2)?;
            }
            BinOp::Lt | BinOp::Le => self.code_order(op == BinOp::Le, e1, e2)?,
        }
        Ok(())
    }

    /// Emits `i` (whose only register operand is `e1`'s) and makes `e1` relocatable.
    fn finish_unary_like(&mut self, e1: &mut ExpDesc, i: Instruction, line: u32) {
        self.free_exp(e1);
        e1.k = ExpKind::Reloc(self.emit(i));
        self.fix_line(line);
    }

    fn code_arith(
        &mut self,
        op: BinOp,
        e1: &mut ExpDesc,
        e2: &mut ExpDesc,
        line: u32,
    ) -> CResult<()> {
        if Self::to_numeral(e2).is_some() && self.exp_to_k(e2) {
            self.code_bin_k(op, e1, e2, line, false)
        } else {
            self.code_bin_exp_val(op, e1, e2, line)
        }
    }

    /// `R[a] = R[b] op K[k]` (e2 is a `K` fitting 16 bits). `flip`: the operands were
    /// swapped (only for `+` and `*`).
    fn code_bin_k(
        &mut self,
        op: BinOp,
        e1: &mut ExpDesc,
        e2: &ExpDesc,
        line: u32,
        flip: bool,
    ) -> CResult<()> {
        let ExpKind::K(kk) = e2.k else {
            debug_assert!(false);
            return Ok(());
        };
        let k = kk as u16;
        let b = self.exp_to_anyreg(e1)?;
        let i = match op {
            BinOp::Arith(ArithOp::Add) => AddK { a: 0, b, k, flip },
            BinOp::Arith(ArithOp::Sub) => SubK { a: 0, b, k },
            BinOp::Arith(ArithOp::Mul) => MulK { a: 0, b, k, flip },
            BinOp::Arith(ArithOp::Mod) => ModK { a: 0, b, k },
            BinOp::Arith(ArithOp::Pow) => PowK { a: 0, b, k },
            BinOp::Arith(ArithOp::Div) => DivK { a: 0, b, k },
            BinOp::Arith(ArithOp::IDiv) => IDivK { a: 0, b, k },
            BinOp::Arith(ArithOp::BAnd) => BAndK { a: 0, b, k },
            BinOp::Arith(ArithOp::BOr) => BOrK { a: 0, b, k },
            _ => BXorK { a: 0, b, k },
        };
        self.finish_unary_like(e1, i, line);
        Ok(())
    }

    /// `R[a] = R[b] op R[c]`.
    fn code_bin_exp_val(
        &mut self,
        op: BinOp,
        e1: &mut ExpDesc,
        e2: &mut ExpDesc,
        line: u32,
    ) -> CResult<()> {
        let c = self.exp_to_anyreg(e2)?;
        let b = self.exp_to_anyreg(e1)?;
        let i = match op {
            BinOp::Arith(ArithOp::Add) => Add { a: 0, b, c },
            BinOp::Arith(ArithOp::Sub) => Sub { a: 0, b, c },
            BinOp::Arith(ArithOp::Mul) => Mul { a: 0, b, c },
            BinOp::Arith(ArithOp::Mod) => Mod { a: 0, b, c },
            BinOp::Arith(ArithOp::Pow) => Pow { a: 0, b, c },
            BinOp::Arith(ArithOp::Div) => Div { a: 0, b, c },
            BinOp::Arith(ArithOp::IDiv) => IDiv { a: 0, b, c },
            BinOp::Arith(ArithOp::BAnd) => BAnd { a: 0, b, c },
            BinOp::Arith(ArithOp::BOr) => BOr { a: 0, b, c },
            BinOp::Arith(ArithOp::BXor) => BXor { a: 0, b, c },
            BinOp::Arith(ArithOp::Shl) => Shl { a: 0, b, c },
            _ => Shr { a: 0, b, c },
        };
        self.free_exps(e1, e2);
        e1.k = ExpKind::Reloc(self.emit(i));
        self.fix_line(line);
        Ok(())
    }

    fn code_concat(&mut self, e1: &mut ExpDesc, e2: &mut ExpDesc, line: u32) {
        let r1 = Self::exp_reg(e1);
        if let Some(prev) = self.previous_instruction() {
            if let Concat { a, n } = self.fs.code[prev] {
                if a as u32 == r1 as u32 + 1 && n < u8::MAX {
                    self.free_exp(e2);
                    self.fs.code[prev] = Concat { a: r1, n: n + 1 };
                    return;
                }
            }
        }
        self.emit(Concat { a: r1, n: 2 });
        self.free_exp(e2);
        self.fix_line(line);
    }

    fn code_eq(&mut self, eq: bool, e1: &mut ExpDesc, e2: &mut ExpDesc) -> CResult<()> {
        if !matches!(e1.k, ExpKind::NonReloc(_)) {
            // e1 is a constant: put the non-constant (if any) first
            std::mem::swap(e1, e2);
        }
        let a = self.exp_to_anyreg(e1)?;
        let i = if let Some((i, float)) = Self::sc_number(e2) {
            EqI { a, i, k: eq, float }
        } else if !e2.has_jumps()
            && (matches!(
                e2.k,
                ExpKind::Nil | ExpKind::True | ExpKind::False | ExpKind::KStr(_)
            ) || matches!(e2.k, ExpKind::K(k) if !matches!(self.fs.constants[k as usize], Constant::Integer(_) | Constant::Float(_))))
            && self.exp_to_k(e2)
        {
            let ExpKind::K(c) = e2.k else { unreachable!() };
            EqK {
                a,
                c: c as u16,
                k: eq,
            }
        } else {
            let b = self.exp_to_anyreg(e2)?;
            Eq { a, b, k: eq }
        };
        self.free_exps(e1, e2);
        e1.k = ExpKind::Jmp(self.cond_jump(i) as usize);
        Ok(())
    }

    /// `e1 < e2` (or `<=` when `le`).
    fn code_order(&mut self, le: bool, e1: &mut ExpDesc, e2: &mut ExpDesc) -> CResult<()> {
        let i = if let Some((i, float)) = Self::sc_number(e2) {
            let a = self.exp_to_anyreg(e1)?;
            Self::order_imm(le, false, a, i, float)
        } else if let Some((i, float)) = Self::sc_number(e1) {
            // i < R[a]  <=>  R[a] > i
            let a = self.exp_to_anyreg(e2)?;
            Self::order_imm(le, true, a, i, float)
        } else {
            let a = self.exp_to_anyreg(e1)?;
            let b = self.exp_to_anyreg(e2)?;
            if le {
                Le { a, b, k: true }
            } else {
                Lt { a, b, k: true }
            }
        };
        self.free_exps(e1, e2);
        e1.k = ExpKind::Jmp(self.cond_jump(i) as usize);
        Ok(())
    }

    /// The test of `R[a]` against immediate `i`: `R[a] < i` (`R[a] <= i` when `le`), or with
    /// the operands the other way round when `swapped` (`i < R[a]`: `R[a] > i`...).
    fn order_imm(le: bool, swapped: bool, a: u8, i: i16, float: bool) -> Instruction {
        let k = true;
        match (le, swapped) {
            (false, false) => LtI { a, i, k, float },
            (true, false) => LeI { a, i, k, float },
            (false, true) => GtI { a, i, k, float },
            (true, true) => GeI { a, i, k, float },
        }
    }

    // ---------------------------------------------------------------- misc

    /// `return R[first], ... (nret values; -1: up to top)`.
    pub(crate) fn ret(&mut self, first: u32, nret: i32) {
        self.emit(Return {
            a: first as u8,
            b: (nret + 1) as u8,
            close: false,
        });
    }

    /// `SetList` for `tostore` pending items (`-1`: up to top); `nelems` already stored.
    pub(crate) fn set_list(&mut self, base: u8, nelems: u32, tostore: i32) {
        let n = if tostore < 0 { 0 } else { tostore as u8 };
        self.emit(SetList {
            a: base,
            n,
            start: nelems,
        });
        self.fs.free_reg = base as u32 + 1;
    }

    /// Final pass over a function's code: return forms and jump threading.
    pub(crate) fn finish(&mut self) {
        let needclose = self.fs.needclose;
        for pc in 0..self.fs.code.len() {
            match self.fs.code[pc] {
                Return { a, b, .. } => {
                    self.fs.code[pc] = if needclose {
                        Return { a, b, close: true }
                    } else if b == 1 {
                        Return0
                    } else if b == 2 {
                        Return1 { a }
                    } else {
                        Return { a, b, close: false }
                    };
                }
                Jmp { .. } => {
                    let target = self.final_target(pc);
                    self.fix_jump(pc, target);
                }
                _ => {}
            }
        }
    }

    /// Follows chains of unconditional jumps (at most 100 hops).
    fn final_target(&self, mut pc: usize) -> usize {
        for _ in 0..100 {
            match self.fs.code[pc] {
                Jmp { off } => {
                    let next = pc as i64 + 1 + off as i64;
                    if next < 0 || next as usize >= self.fs.code.len() {
                        break;
                    }
                    pc = next as usize;
                }
                _ => break,
            }
        }
        pc
    }
}
