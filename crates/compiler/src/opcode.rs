//! The register-based instruction set shared by the compiler and the VM.
//!
//! Modelled on PUC-Rio Lua 5.4's instruction set (constants in operands, immediate and
//! constant-operand arithmetic, `GetField` with constant keys, numeric-for fast paths), but
//! expressed as a Rust enum of at most 8 bytes so the VM dispatches with one `match`.
//!
//! Notation used in the comments:
//! - `R[x]`: register `x` of the current frame (frame base + x).
//! - `K[x]`: constant `x` of the current prototype.
//! - `U[x]`: upvalue `x` of the current closure.
//! - `RK(c, ck)`: `K[c]` when `ck` is true, else `R[c]` (then `c` < 256).
//! - `pc`: on execution of an instruction, `pc` already points at the *next* instruction;
//!   every jump offset below is relative to that next instruction.
//!
//! Conditional instructions (`Eq`, `Lt`, `Le`, `EqK`, `EqI`, `LtI`, `LeI`, `GtI`, `GeI`,
//! `Test`, `TestSet`) are always followed by a `Jmp`. If the condition's truth equals `k`,
//! that `Jmp` is executed; otherwise it is skipped (`pc += 1`).
//!
//! Metamethods are handled by the VM inside the instruction that needs them (there is no
//! separate `MMBIN` instruction): when an arithmetic/index/comparison instruction falls back to
//! a metamethod, the VM calls it and, when it returns, finishes the interrupted instruction
//! (stores the result in `R[a]`, or performs the conditional jump).

/// One VM instruction. `size_of::<Instruction>() == 8` is asserted by a unit test.
///
/// Operand fields are not documented one by one: each variant's doc states its semantics in
/// the notation of the module docs (`a`, `b`, `c`: registers; `k`: a constant index; `up`: an
/// upvalue index; `i`, `f`: immediates; `ck`: whether `c` is a constant index; the rest are
/// named in their variant's doc).
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Instruction {
    /// `R[a] = R[b]`
    Move { a: u8, b: u8 },
    /// `R[a] = i` (integer)
    LoadI { a: u8, i: i32 },
    /// `R[a] = f as f64` (a float with an integral value that fits in i32)
    LoadF { a: u8, f: i32 },
    /// `R[a] = K[k]`
    LoadK { a: u8, k: u32 },
    /// `R[a] = false`
    LoadFalse { a: u8 },
    /// `R[a] = false; pc += 1`
    LoadFalseSkip { a: u8 },
    /// `R[a] = true`
    LoadTrue { a: u8 },
    /// `R[a], R[a+1], ..., R[a+n] = nil` (n + 1 registers)
    LoadNil { a: u8, n: u8 },

    /// `R[a] = U[up]`
    GetUpval { a: u8, up: u8 },
    /// `U[up] = R[a]`
    SetUpval { a: u8, up: u8 },

    /// `R[a] = U[up][K[k]]` (`K[k]` is a string; used for globals through `_ENV`)
    GetTabUp { a: u8, up: u8, k: u32 },
    /// `R[a] = R[b][R[c]]`
    GetTable { a: u8, b: u8, c: u8 },
    /// `R[a] = R[b][c]` (integer key 0..=255)
    GetI { a: u8, b: u8, c: u8 },
    /// `R[a] = R[b][K[k]]` (`K[k]` is a string)
    GetField { a: u8, b: u8, k: u32 },
    /// `U[up][K[k]] = RK(c, ck)` (`K[k]` is a string)
    SetTabUp { up: u8, k: u16, c: u16, ck: bool },
    /// `R[a][R[b]] = RK(c, ck)`
    SetTable { a: u8, b: u8, c: u16, ck: bool },
    /// `R[a][b] = RK(c, ck)` (integer key 0..=255)
    SetI { a: u8, b: u8, c: u16, ck: bool },
    /// `R[a][K[k]] = RK(c, ck)` (`K[k]` is a string)
    SetField { a: u8, k: u16, c: u16, ck: bool },
    /// `R[a] = {}` with size hints: `array` slots in the array part, `hash` entries in the
    /// hash part.
    NewTable { a: u8, hash: u16, array: u32 },
    /// `R[a+1] = R[b]; R[a] = R[b][K[k]]` (`K[k]` is a string: the method name)
    SelfK { a: u8, b: u8, k: u32 },

    /// `R[a] = R[b] + i`. `flip`: the source was `i + R[b]` (a numeral on the left of a
    /// commutative operator goes to the right, like PUC): the same sum for numbers, but a
    /// metamethod or an error sees the operands in source order.
    AddI { a: u8, b: u8, i: i16, flip: bool },
    /// `R[a] = R[b] + K[k]` (`K[k]` is a number). `flip`: the source was `K[k] + R[b]` (see
    /// `AddI`).
    AddK { a: u8, b: u8, k: u16, flip: bool },
    /// `R[a] = R[b] - K[k]`
    SubK { a: u8, b: u8, k: u16 },
    /// `R[a] = R[b] * K[k]`. `flip`: the source was `K[k] * R[b]` (see `AddI`).
    MulK { a: u8, b: u8, k: u16, flip: bool },
    /// `R[a] = R[b] % K[k]`
    ModK { a: u8, b: u8, k: u16 },
    /// `R[a] = R[b] ^ K[k]`
    PowK { a: u8, b: u8, k: u16 },
    /// `R[a] = R[b] / K[k]`
    DivK { a: u8, b: u8, k: u16 },
    /// `R[a] = R[b] // K[k]`
    IDivK { a: u8, b: u8, k: u16 },
    /// `R[a] = R[b] & K[k]` (`K[k]` is an integer)
    BAndK { a: u8, b: u8, k: u16 },
    /// `R[a] = R[b] | K[k]` (`K[k]` is an integer)
    BOrK { a: u8, b: u8, k: u16 },
    /// `R[a] = R[b] ~ K[k]` (`K[k]` is an integer)
    BXorK { a: u8, b: u8, k: u16 },
    /// `R[a] = R[b] >> i`
    ShrI { a: u8, b: u8, i: i16 },
    /// `R[a] = i << R[b]`
    ShlI { a: u8, b: u8, i: i16 },

    /// `R[a] = R[b] + R[c]`
    Add { a: u8, b: u8, c: u8 },
    /// `R[a] = R[b] - R[c]`
    Sub { a: u8, b: u8, c: u8 },
    /// `R[a] = R[b] * R[c]`
    Mul { a: u8, b: u8, c: u8 },
    /// `R[a] = R[b] % R[c]`
    Mod { a: u8, b: u8, c: u8 },
    /// `R[a] = R[b] ^ R[c]`
    Pow { a: u8, b: u8, c: u8 },
    /// `R[a] = R[b] / R[c]`
    Div { a: u8, b: u8, c: u8 },
    /// `R[a] = R[b] // R[c]`
    IDiv { a: u8, b: u8, c: u8 },
    /// `R[a] = R[b] & R[c]`
    BAnd { a: u8, b: u8, c: u8 },
    /// `R[a] = R[b] | R[c]`
    BOr { a: u8, b: u8, c: u8 },
    /// `R[a] = R[b] ~ R[c]`
    BXor { a: u8, b: u8, c: u8 },
    /// `R[a] = R[b] << R[c]`
    Shl { a: u8, b: u8, c: u8 },
    /// `R[a] = R[b] >> R[c]`
    Shr { a: u8, b: u8, c: u8 },

    /// `R[a] = -R[b]`
    Unm { a: u8, b: u8 },
    /// `R[a] = ~R[b]`
    BNot { a: u8, b: u8 },
    /// `R[a] = not R[b]`
    Not { a: u8, b: u8 },
    /// `R[a] = #R[b]`
    Len { a: u8, b: u8 },
    /// `R[a] = R[a] .. R[a+1] .. ... .. R[a+n-1]` (n >= 2; right associative, like PUC)
    Concat { a: u8, n: u8 },

    /// Close upvalues and to-be-closed variables for registers `>= a`.
    Close { a: u8 },
    /// Mark `R[a]` as a to-be-closed variable (the VM checks it has `__close` or is false/nil).
    Tbc { a: u8 },
    /// `pc += off`
    Jmp { off: i32 },

    /// `(R[a] == R[b]) == k` → run next `Jmp`
    Eq { a: u8, b: u8, k: bool },
    /// `(R[a] < R[b]) == k` → run next `Jmp`
    Lt { a: u8, b: u8, k: bool },
    /// `(R[a] <= R[b]) == k` → run next `Jmp`
    Le { a: u8, b: u8, k: bool },
    /// `(R[a] == K[c]) == k` → run next `Jmp` (raw equality; `K[c]` is not a number: the
    /// compiler only uses it for nil, booleans and strings)
    EqK { a: u8, c: u16, k: bool },
    /// `(R[a] == i) == k` → run next `Jmp`. `float` tells whether the literal was written as
    /// a float (`1.0`), which only matters for error messages.
    EqI { a: u8, i: i16, k: bool, float: bool },
    /// `(R[a] < i) == k` → run next `Jmp`
    LtI { a: u8, i: i16, k: bool, float: bool },
    /// `(R[a] <= i) == k` → run next `Jmp`
    LeI { a: u8, i: i16, k: bool, float: bool },
    /// `(R[a] > i) == k` → run next `Jmp`
    GtI { a: u8, i: i16, k: bool, float: bool },
    /// `(R[a] >= i) == k` → run next `Jmp`
    GeI { a: u8, i: i16, k: bool, float: bool },
    /// `truthy(R[a]) == k` → run next `Jmp`
    Test { a: u8, k: bool },
    /// `truthy(R[b]) == k` → `R[a] = R[b]` and run next `Jmp`; else skip the `Jmp`.
    /// (The compiler never emits it with `a == b`; that case is a `Test`.)
    TestSet { a: u8, b: u8, k: bool },

    /// `R[a], ..., R[a+c-2] = R[a](R[a+1], ..., R[a+b-1])`.
    /// `b == 0`: arguments run from `R[a+1]` up to the top set by the previous multi-result
    /// instruction (`Call` with `c == 0` or `VarArg` with `c == 0`).
    /// `c == 0`: keep all results and set the top after the last one.
    Call { a: u8, b: u8, c: u8 },
    /// `return R[a](R[a+1], ..., R[a+b-1])` (`b == 0`: up to top). The VM closes upvalues and
    /// to-be-closed variables of the frame before the call when the prototype needs it.
    /// (The compiler never emits it inside the scope of a to-be-closed variable, and always
    /// follows it with `Return { a, b: 0, .. }`, like PUC; the VM may ignore that one.)
    TailCall { a: u8, b: u8 },
    /// `return R[a], ..., R[a+b-2]` (`b == 0`: up to top). `close`: the function has
    /// to-be-closed variables or captured locals still open that must be closed first.
    /// (The compiler sets `close` on every return of a function that declares a `<close>`
    /// variable, a generic `for`, or a local captured by a closure; such functions never use
    /// `Return0`/`Return1`.)
    Return { a: u8, b: u8, close: bool },
    /// `return` (no values, nothing to close)
    Return0,
    /// `return R[a]` (one value, nothing to close)
    Return1 { a: u8 },

    /// Numeric for loop preparation. `R[a]` = initial value, `R[a+1]` = limit, `R[a+2]` = step;
    /// the loop variable visible in the body is `R[a+3]`. Checks the operands ("'for' initial
    /// value must be a number", ...); if the loop runs zero times, `pc += skip`, which lands
    /// just after the matching `ForLoop`. The VM may rewrite `R[a..a+3]` to an internal form.
    ForPrep { a: u8, skip: u32 },
    /// Numeric for loop step: update the counter; if the loop continues, set `R[a+3]` and
    /// `pc -= back`, which lands on the first instruction of the body.
    ForLoop { a: u8, back: u32 },
    /// Generic for preparation: `R[a]` iterator, `R[a+1]` state, `R[a+2]` control,
    /// `R[a+3]` closing value (marked to-be-closed by this instruction when not nil/false).
    /// Then `pc += skip`, which lands on the matching `TForCall`.
    TForPrep { a: u8, skip: u32 },
    /// `R[a+4], ..., R[a+3+c] = R[a](R[a+1], R[a+2])` (c >= 1)
    TForCall { a: u8, c: u8 },
    /// `if R[a+4] ~= nil then R[a+2] = R[a+4]; pc -= back end` (lands on the loop body start)
    TForLoop { a: u8, back: u32 },

    /// `R[a][start + i] = R[a + i]` for `1 <= i <= n`; `n == 0`: up to top.
    SetList { a: u8, n: u8, start: u32 },
    /// `R[a] = closure(prototypes[proto])`
    Closure { a: u8, proto: u32 },
    /// `R[a], ..., R[a+c-2] = vararg`; `c == 0`: all varargs, top set after the last.
    VarArg { a: u8, c: u8 },
}

impl Instruction {
    /// The register that receives this instruction's result (`R[a]`), for instructions that
    /// compute one value into `a` (`LoadNil`, `SelfK` and `VarArg` write more registers
    /// starting at `a`). The code generator retargets results through this; the VM's debug
    /// information uses it to find which instruction set a register.
    pub fn result_register_mut(&mut self) -> Option<&mut u8> {
        use Instruction::*;
        match self {
            Move { a, .. }
            | LoadI { a, .. }
            | LoadF { a, .. }
            | LoadK { a, .. }
            | LoadFalse { a }
            | LoadFalseSkip { a }
            | LoadTrue { a }
            | LoadNil { a, .. }
            | GetUpval { a, .. }
            | GetTabUp { a, .. }
            | GetTable { a, .. }
            | GetI { a, .. }
            | GetField { a, .. }
            | NewTable { a, .. }
            | SelfK { a, .. }
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
            | Closure { a, .. }
            | VarArg { a, .. } => Some(a),
            _ => None,
        }
    }

    /// Whether the instruction is a conditional test (always followed by a `Jmp`, which it
    /// skips or not).
    pub fn is_test(&self) -> bool {
        use Instruction::*;
        matches!(
            self,
            Eq { .. }
                | Lt { .. }
                | Le { .. }
                | EqK { .. }
                | EqI { .. }
                | LtI { .. }
                | LeI { .. }
                | GtI { .. }
                | GeI { .. }
                | Test { .. }
                | TestSet { .. }
        )
    }

    /// See [`Instruction::result_register_mut`].
    pub fn result_register(&self) -> Option<u8> {
        let mut copy = *self;
        copy.result_register_mut().map(|a| *a)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn instruction_is_eight_bytes() {
        assert_eq!(std::mem::size_of::<super::Instruction>(), 8);
    }
}

/// Calls macro `$m` with the arithmetic and bitwise operators (unary ones included), in PUC's
/// `TM_ADD`... order, each as `Variant "__event" "symbol"`: the one list of them. `ArithOp`
/// is made from it here, and the operator events of the VM's `MetaEvent` there.
#[macro_export]
macro_rules! with_arith_ops {
    ($m:ident) => {
        $m! {
            Add "__add" "`+`",
            Sub "__sub" "binary `-`",
            Mul "__mul" "`*`",
            Mod "__mod" "`%`",
            Pow "__pow" "`^`",
            Div "__div" "`/`",
            IDiv "__idiv" "`//`",
            BAnd "__band" "`&`",
            BOr "__bor" "`|`",
            BXor "__bxor" "binary `~`",
            Shl "__shl" "`<<`",
            Shr "__shr" "`>>`",
            Unm "__unm" "unary `-`",
            BNot "__bnot" "unary `~`",
        }
    };
}

macro_rules! arith_op_enum {
    ($($op:ident $_event:literal $symbol:literal,)*) => {
        /// The arithmetic and bitwise operators (unary ones included): what the compiler
        /// folds (`fold`) and the VM computes (`interp`), each with its metamethod event
        /// there. Made from [`crate::with_arith_ops`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ArithOp {
            $(#[doc = $symbol] $op,)*
        }

        impl ArithOp {
            /// Every operator, in order.
            pub const ALL: [ArithOp; [$(ArithOp::$op),*].len()] = [$(ArithOp::$op),*];
        }
    };
}

with_arith_ops!(arith_op_enum);

impl ArithOp {
    /// Whether the operator works on integers (its operands are converted to them).
    pub fn is_bitwise(self) -> bool {
        matches!(
            self,
            ArithOp::BAnd
                | ArithOp::BOr
                | ArithOp::BXor
                | ArithOp::Shl
                | ArithOp::Shr
                | ArithOp::BNot
        )
    }
}
