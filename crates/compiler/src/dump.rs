//! lunette's binary chunks: [`dump`] writes a [`Prototype`] tree as bytes (what
//! `string.dump` returns), [`undump`] reads them back (what `load` does with a chunk that
//! starts with ESC). The format is lunette's own, not PUC-Rio's bytecode; it depends on
//! neither the machine's endianness nor its pointer width.
//!
//! Decoding treats the bytes as untrusted: it never panics, runs in time linear in the
//! input, allocates only in proportion to what it has read (every count is checked against
//! the bytes left before anything is reserved, and everything allocated is counted against
//! a byte limit, [`undump_with_limit`]), decodes nested functions with an explicit stack
//! (at most [`MAX_NESTING`] levels, the compiler's own limit), and finally runs the
//! bytecode verifier ([`crate::verify`](mod@crate::verify)): a prototype that comes out of `undump` is as safe
//! to run as one the compiler made.
//!
//! # Format (version 2: `AddI`, `AddK` and `MulK` carry `flip`)
//!
//! Integers are unsigned LEB128 varints (`uv`: 7 bits a byte, low first, at most 10 bytes),
//! signed ones zigzag-encoded then LEB128 (`sv`); `u8` is one byte; a float is its IEEE 754
//! bits as 8 bytes, little-endian; a byte string is `uv` length then the bytes.
//!
//! ```text
//! chunk    := header function
//! header   := "\x1bLua" 0x54 "lnt" "\x19\x93\r\n\x1a\n" version:u8(=2) flags:u8
//!             [source:string]                 -- if flags & 2
//!                                             -- flags & 1: stripped (informative)
//! function := line_defined:uv last_line_defined:uv num_params:u8 is_vararg:u8(0|1)
//!             max_stack_size:u8
//!             ncode:uv instruction*ncode
//!             nconst:uv constant*nconst
//!             nupval:uv (in_stack:u8(0|1) index:u8 name:string)*nupval
//!             nlines:uv line_delta:sv*nlines  -- 0 (stripped) or ncode; deltas from the
//!                                             -- previous line, starting at 0
//!             nlocals:uv (name:string start_pc:uv end_pc:uv)*nlocals
//!             nchildren:uv
//!             function*nchildren              -- the children, in order (pre-order tree)
//! constant := 0 (nil) | 1 (false) | 2 (true) | 3 int:sv | 4 float:f64 | 5 string
//! instruction := opcode:u8 operands           -- in the field order of `Instruction`'s
//!             -- variant: u8 fields one byte, bool fields one byte (0|1), u16/u32 fields
//!             -- `uv`, i16/i32 fields `sv` (each range-checked when read)
//! ```
//!
//! The opcodes are the variants' positions in [`Instruction`] (`Move` = 0 ... `VarArg` =
//! 76), listed in `CODEC` below; changing the instruction set changes the format version.
//! The "\x1bLua" prefix is how `load` tells binary chunks from text; the next byte is Lua
//! 5.4's version byte and "lnt" stands where PUC's format byte (0) is, so PUC refuses a
//! lunette chunk ("format mismatch") and lunette refuses PUC's bytecode by name; the six
//! bytes after it are PUC's corruption check (newline conversions, a text-mode transfer).
//! Stripped chunks (`strip`, like `luac -s`) carry no source name, line information, local
//! variable names or upvalue names: their functions report the source `=?` and line 0 (PUC
//! shows `?` and -1).

use std::sync::Arc;

use crate::error::chunk_id;
use crate::opcode::Instruction;
use crate::proto::{Constant, LocalVar, Prototype, UpvalueDesc};
use crate::varint;

/// What every binary chunk starts with (how `load` tells it from text).
pub const SIGNATURE: &[u8] = b"\x1bLua";

/// The whole fixed header before the version byte.
const MAGIC: &[u8] = b"\x1bLua\x54lnt\x19\x93\r\n\x1a\n";

/// The format version written by [`dump`] and the only one [`undump`] reads.
pub const FORMAT_VERSION: u8 = 2;

/// Deepest function nesting [`undump`] accepts (the compiler's own nesting limit).
pub const MAX_NESTING: usize = crate::parser::MAX_LEVELS as usize;

const FLAG_STRIPPED: u8 = 1;
const FLAG_SOURCE: u8 = 2;

/// Why [`undump`] refused a chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UndumpError {
    /// PUC-style message: `<name>: bad binary format (<why>)`, `<name>: truncated
    /// precompiled chunk`, or `not enough memory`.
    pub message: String,
    /// Whether decoding stopped at its memory limit ([`undump_with_limit`]).
    pub out_of_memory: bool,
}

impl std::fmt::Display for UndumpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UndumpError {}

// ------------------------------------------------------------------------------ writing

struct Writer(Vec<u8>);

impl Writer {
    fn uv(&mut self, v: u64) {
        varint::write_unsigned(&mut self.0, v);
    }
    fn sv(&mut self, v: i64) {
        varint::write_signed(&mut self.0, v);
    }
    fn bytes(&mut self, b: &[u8]) {
        self.uv(b.len() as u64);
        self.0.extend_from_slice(b);
    }
    fn len(&mut self, n: usize) {
        self.uv(n as u64);
    }
    // Operand writers, named after the operand types (used by `CODEC`).
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn bool(&mut self, v: bool) {
        self.0.push(v as u8);
    }
    fn u16(&mut self, v: u16) {
        self.uv(v as u64);
    }
    fn u32(&mut self, v: u32) {
        self.uv(v as u64);
    }
    fn i16(&mut self, v: i16) {
        self.sv(v as i64);
    }
    fn i32(&mut self, v: i32) {
        self.sv(v as i64);
    }
}

/// Writes `proto` (and its nested functions) as a binary chunk. `strip` leaves out the debug
/// information: source name, line information, local variable and upvalue names.
pub fn dump(proto: &Prototype, strip: bool) -> Vec<u8> {
    let mut w = Writer(Vec::new());
    w.0.extend_from_slice(MAGIC);
    w.0.push(FORMAT_VERSION);
    if strip {
        w.0.push(FLAG_STRIPPED);
    } else {
        w.0.push(FLAG_SOURCE);
        w.bytes(proto.source.as_bytes());
    }
    // Pre-order, with an explicit stack (no recursion on deep trees).
    let mut stack: Vec<&Prototype> = vec![proto];
    while let Some(p) = stack.pop() {
        write_function(&mut w, p, strip);
        stack.extend(p.prototypes.iter().rev().map(|c| &**c));
    }
    w.0
}

fn write_function(w: &mut Writer, p: &Prototype, strip: bool) {
    w.uv(p.line_defined as u64);
    w.uv(p.last_line_defined as u64);
    w.u8(p.num_params);
    w.bool(p.is_vararg);
    w.u8(p.max_stack_size);
    w.len(p.code.len());
    for ins in &p.code {
        encode_instruction(w, ins);
    }
    w.len(p.constants.len());
    for k in &p.constants {
        match k {
            Constant::Nil => w.u8(0),
            Constant::Boolean(false) => w.u8(1),
            Constant::Boolean(true) => w.u8(2),
            Constant::Integer(i) => {
                w.u8(3);
                w.sv(*i);
            }
            Constant::Float(f) => {
                w.u8(4);
                w.0.extend_from_slice(&f.to_bits().to_le_bytes());
            }
            Constant::String(s) => {
                w.u8(5);
                w.bytes(s);
            }
        }
    }
    w.len(p.upvalues.len());
    for u in &p.upvalues {
        w.bool(u.in_stack);
        w.u8(u.index);
        w.bytes(if strip { b"" } else { &u.name });
    }
    if strip {
        w.len(0);
        w.len(0);
    } else {
        w.len(p.lines.len());
        let mut prev = 0i64;
        for &l in &p.lines {
            w.sv(l as i64 - prev);
            prev = l as i64;
        }
        w.len(p.local_vars.len());
        for lv in &p.local_vars {
            w.bytes(&lv.name);
            w.uv(lv.start_pc as u64);
            w.uv(lv.end_pc as u64);
        }
    }
    w.len(p.prototypes.len());
}

// ------------------------------------------------------------------------------ reading

enum Why {
    Truncated,
    Bad(String),
    Memory,
}

fn varint_error(e: varint::VarintError) -> Why {
    match e {
        varint::VarintError::Truncated => Why::Truncated,
        varint::VarintError::Overflow => Why::Bad("integer overflow".into()),
    }
}

fn bad<T>(why: impl Into<String>) -> Result<T, Why> {
    Err(Why::Bad(why.into()))
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// Bytes that may still be allocated.
    budget: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }
    fn spend(&mut self, n: usize) -> Result<(), Why> {
        match self.budget.checked_sub(n) {
            Some(left) => {
                self.budget = left;
                Ok(())
            }
            None => Err(Why::Memory),
        }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], Why> {
        if n > self.remaining() {
            return Err(Why::Truncated);
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, Why> {
        Ok(self.take(1)?[0])
    }
    fn bool(&mut self) -> Result<bool, Why> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            b => bad(format!("boolean {b}")),
        }
    }
    fn uv(&mut self) -> Result<u64, Why> {
        varint::read_unsigned(self.bytes, &mut self.pos).map_err(varint_error)
    }
    fn sv(&mut self) -> Result<i64, Why> {
        varint::read_signed(self.bytes, &mut self.pos).map_err(varint_error)
    }
    fn u16(&mut self) -> Result<u16, Why> {
        u16::try_from(self.uv()?).or_else(|_| bad("operand out of range"))
    }
    fn u32(&mut self) -> Result<u32, Why> {
        u32::try_from(self.uv()?).or_else(|_| bad("operand out of range"))
    }
    fn i16(&mut self) -> Result<i16, Why> {
        i16::try_from(self.sv()?).or_else(|_| bad("operand out of range"))
    }
    fn i32(&mut self) -> Result<i32, Why> {
        i32::try_from(self.sv()?).or_else(|_| bad("operand out of range"))
    }
    /// A count of items that take at least `min_bytes` each: checked against the input left
    /// before anything is allocated for them.
    fn count(&mut self, min_bytes: usize) -> Result<usize, Why> {
        let n = self.uv()?;
        match usize::try_from(n) {
            Ok(n) if n.saturating_mul(min_bytes) <= self.remaining() => Ok(n),
            _ => Err(Why::Truncated),
        }
    }
    /// A vector for `n` items of `T`, its capacity counted against the budget.
    fn vec<T>(&mut self, n: usize) -> Result<Vec<T>, Why> {
        self.spend(n.saturating_mul(std::mem::size_of::<T>()))?;
        Ok(Vec::with_capacity(n))
    }
    fn string(&mut self) -> Result<Box<[u8]>, Why> {
        let n = self.count(1)?;
        self.spend(n + 16)?;
        Ok(self.take(n)?.into())
    }
}

/// Reads a binary chunk made by [`dump`] and verifies it. `chunk_name` (the name given to
/// `load`) only names the chunk in error messages, like PUC's (`"binary string"` when it is
/// the chunk itself); a stripped chunk's functions get the source `"=?"`.
pub fn undump(bytes: &[u8], chunk_name: &str) -> Result<Arc<Prototype>, UndumpError> {
    undump_with_limit(bytes, chunk_name, usize::MAX)
}

/// [`undump`], allocating at most about `max_bytes` for the decoded prototypes (counted by
/// capacity as they are built); past it, the error is `not enough memory`
/// ([`UndumpError::out_of_memory`]). The VM passes what its memory limit has left.
pub fn undump_with_limit(
    bytes: &[u8],
    chunk_name: &str,
    max_bytes: usize,
) -> Result<Arc<Prototype>, UndumpError> {
    let name = if chunk_name.as_bytes().first() == Some(&0x1b) {
        "binary string".to_string()
    } else if let Some(rest) = chunk_name
        .strip_prefix('@')
        .or_else(|| chunk_name.strip_prefix('='))
    {
        rest.chars().take(200).collect()
    } else {
        chunk_name.chars().take(200).collect()
    };
    let mut r = Reader {
        bytes,
        pos: 0,
        budget: max_bytes,
    };
    let result = read_chunk(&mut r).and_then(|p| {
        if r.remaining() != 0 {
            return bad("trailing bytes");
        }
        crate::verify::verify(&p).or_else(|e| bad(format!("verification failed: {e}")))?;
        Ok(p)
    });
    result.map_err(|why| match why {
        Why::Truncated => UndumpError {
            message: format!("{name}: truncated precompiled chunk"),
            out_of_memory: false,
        },
        Why::Bad(why) => UndumpError {
            message: format!("{name}: bad binary format ({why})"),
            out_of_memory: false,
        },
        Why::Memory => UndumpError {
            message: "not enough memory".into(),
            out_of_memory: true,
        },
    })
}

fn read_chunk(r: &mut Reader<'_>) -> Result<Arc<Prototype>, Why> {
    // The fixed header, byte by byte: a short input is truncated, a wrong byte says what
    // the chunk is not.
    for (i, &want) in MAGIC.iter().enumerate() {
        let got = r.u8()?;
        if got != want {
            return bad(match i {
                0..=3 => "not a binary chunk",
                4 => "version mismatch",
                5..=7 => "not a lunette chunk (PUC Lua bytecode?)",
                _ => "corrupted chunk",
            });
        }
    }
    let version = r.u8()?;
    if version != FORMAT_VERSION {
        return bad(format!(
            "format version {version}, expected {FORMAT_VERSION}"
        ));
    }
    let flags = r.u8()?;
    if flags & !(FLAG_STRIPPED | FLAG_SOURCE) != 0 {
        return bad("unknown flags");
    }
    let source: Arc<str> = if flags & FLAG_SOURCE != 0 {
        let s = r.string()?;
        match std::str::from_utf8(&s) {
            Ok(s) => s.into(),
            Err(_) => return bad("source name is not UTF-8"),
        }
    } else {
        "=?".into()
    };
    r.spend(2 * source.len() + 64)?;
    let short_source: Arc<str> = chunk_id(&source).into();

    // Pre-order decoding with an explicit stack of functions waiting for their children.
    let mut stack: Vec<(Prototype, usize)> = Vec::new();
    loop {
        let (mut p, nchildren) = read_function(r, &source, &short_source)?;
        if nchildren > 0 {
            if stack.len() + 1 >= MAX_NESTING {
                return bad("functions nested too deeply");
            }
            p.prototypes = r.vec(nchildren)?;
            stack.push((p, nchildren));
            continue;
        }
        let mut done = Arc::new(p);
        loop {
            let Some((parent, left)) = stack.last_mut() else {
                return Ok(done);
            };
            parent.prototypes.push(done);
            *left -= 1;
            if *left > 0 {
                break;
            }
            let Some((parent, _)) = stack.pop() else {
                return bad("internal error");
            };
            done = Arc::new(parent);
        }
    }
}

/// Reads one function record (without its children): the prototype and its child count.
fn read_function(
    r: &mut Reader<'_>,
    source: &Arc<str>,
    short_source: &Arc<str>,
) -> Result<(Prototype, usize), Why> {
    r.spend(std::mem::size_of::<Prototype>() + 64)?;
    let line_defined = u32::try_from(r.uv()?).or_else(|_| bad("line out of range"))?;
    let last_line_defined = u32::try_from(r.uv()?).or_else(|_| bad("line out of range"))?;
    let num_params = r.u8()?;
    let is_vararg = r.bool()?;
    let max_stack_size = r.u8()?;
    let ncode = r.count(1)?;
    let mut code = r.vec::<Instruction>(ncode)?;
    for _ in 0..ncode {
        code.push(decode_instruction(r)?);
    }
    let nconst = r.count(1)?;
    let mut constants = r.vec::<Constant>(nconst)?;
    for _ in 0..nconst {
        constants.push(match r.u8()? {
            0 => Constant::Nil,
            1 => Constant::Boolean(false),
            2 => Constant::Boolean(true),
            3 => Constant::Integer(r.sv()?),
            4 => {
                let b = r.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Constant::Float(f64::from_bits(u64::from_le_bytes(a)))
            }
            5 => Constant::String(r.string()?.into()),
            t => return bad(format!("constant tag {t}")),
        });
    }
    let nup = r.count(3)?;
    let mut upvalues = r.vec::<UpvalueDesc>(nup)?;
    for _ in 0..nup {
        let in_stack = r.bool()?;
        let index = r.u8()?;
        let name = r.string()?;
        upvalues.push(UpvalueDesc {
            name: name.into(),
            in_stack,
            index,
        });
    }
    let nlines = r.count(1)?;
    if nlines != 0 && nlines != ncode {
        return bad("line information does not match the code");
    }
    let mut lines = r.vec::<u32>(nlines)?;
    let mut line = 0i64;
    for _ in 0..nlines {
        line = line.saturating_add(r.sv()?);
        lines.push(u32::try_from(line).or_else(|_| bad("line out of range"))?);
    }
    let nlocals = r.count(3)?;
    let mut local_vars = r.vec::<LocalVar>(nlocals)?;
    for _ in 0..nlocals {
        let name = r.string()?;
        let start_pc = r.u32()?;
        let end_pc = r.u32()?;
        local_vars.push(LocalVar {
            name: name.into(),
            start_pc,
            end_pc,
        });
    }
    // A child record takes at least 12 bytes.
    let nchildren = r.count(12)?;
    Ok((
        Prototype {
            source: source.clone(),
            short_source: short_source.clone(),
            line_defined,
            last_line_defined,
            num_params,
            is_vararg,
            max_stack_size,
            code,
            lines,
            constants,
            prototypes: Vec::new(),
            upvalues,
            local_vars,
        },
        nchildren,
    ))
}

/// The instruction codec: opcode, variant, operands with their types (the `Writer` /
/// `Reader` method of the same name encodes each).
macro_rules! codec {
    ($($tag:literal $name:ident { $($field:ident : $ty:ident),* })*) => {
        fn encode_instruction(w: &mut Writer, ins: &Instruction) {
            match *ins {
                $(Instruction::$name { $($field),* } => {
                    w.u8($tag);
                    $(w.$ty($field);)*
                })*
            }
        }
        fn decode_instruction(r: &mut Reader<'_>) -> Result<Instruction, Why> {
            Ok(match r.u8()? {
                $($tag => Instruction::$name { $($field: r.$ty()?),* },)*
                op => return bad(format!("unknown opcode {op}")),
            })
        }
    };
}

codec! {
    0 Move { a: u8, b: u8 }
    1 LoadI { a: u8, i: i32 }
    2 LoadF { a: u8, f: i32 }
    3 LoadK { a: u8, k: u32 }
    4 LoadFalse { a: u8 }
    5 LoadFalseSkip { a: u8 }
    6 LoadTrue { a: u8 }
    7 LoadNil { a: u8, n: u8 }
    8 GetUpval { a: u8, up: u8 }
    9 SetUpval { a: u8, up: u8 }
    10 GetTabUp { a: u8, up: u8, k: u32 }
    11 GetTable { a: u8, b: u8, c: u8 }
    12 GetI { a: u8, b: u8, c: u8 }
    13 GetField { a: u8, b: u8, k: u32 }
    14 SetTabUp { up: u8, k: u16, c: u16, ck: bool }
    15 SetTable { a: u8, b: u8, c: u16, ck: bool }
    16 SetI { a: u8, b: u8, c: u16, ck: bool }
    17 SetField { a: u8, k: u16, c: u16, ck: bool }
    18 NewTable { a: u8, hash: u16, array: u32 }
    19 SelfK { a: u8, b: u8, k: u32 }
    20 AddI { a: u8, b: u8, i: i16, flip: bool }
    21 AddK { a: u8, b: u8, k: u16, flip: bool }
    22 SubK { a: u8, b: u8, k: u16 }
    23 MulK { a: u8, b: u8, k: u16, flip: bool }
    24 ModK { a: u8, b: u8, k: u16 }
    25 PowK { a: u8, b: u8, k: u16 }
    26 DivK { a: u8, b: u8, k: u16 }
    27 IDivK { a: u8, b: u8, k: u16 }
    28 BAndK { a: u8, b: u8, k: u16 }
    29 BOrK { a: u8, b: u8, k: u16 }
    30 BXorK { a: u8, b: u8, k: u16 }
    31 ShrI { a: u8, b: u8, i: i16 }
    32 ShlI { a: u8, b: u8, i: i16 }
    33 Add { a: u8, b: u8, c: u8 }
    34 Sub { a: u8, b: u8, c: u8 }
    35 Mul { a: u8, b: u8, c: u8 }
    36 Mod { a: u8, b: u8, c: u8 }
    37 Pow { a: u8, b: u8, c: u8 }
    38 Div { a: u8, b: u8, c: u8 }
    39 IDiv { a: u8, b: u8, c: u8 }
    40 BAnd { a: u8, b: u8, c: u8 }
    41 BOr { a: u8, b: u8, c: u8 }
    42 BXor { a: u8, b: u8, c: u8 }
    43 Shl { a: u8, b: u8, c: u8 }
    44 Shr { a: u8, b: u8, c: u8 }
    45 Unm { a: u8, b: u8 }
    46 BNot { a: u8, b: u8 }
    47 Not { a: u8, b: u8 }
    48 Len { a: u8, b: u8 }
    49 Concat { a: u8, n: u8 }
    50 Close { a: u8 }
    51 Tbc { a: u8 }
    52 Jmp { off: i32 }
    53 Eq { a: u8, b: u8, k: bool }
    54 Lt { a: u8, b: u8, k: bool }
    55 Le { a: u8, b: u8, k: bool }
    56 EqK { a: u8, c: u16, k: bool }
    57 EqI { a: u8, i: i16, k: bool, float: bool }
    58 LtI { a: u8, i: i16, k: bool, float: bool }
    59 LeI { a: u8, i: i16, k: bool, float: bool }
    60 GtI { a: u8, i: i16, k: bool, float: bool }
    61 GeI { a: u8, i: i16, k: bool, float: bool }
    62 Test { a: u8, k: bool }
    63 TestSet { a: u8, b: u8, k: bool }
    64 Call { a: u8, b: u8, c: u8 }
    65 TailCall { a: u8, b: u8 }
    66 Return { a: u8, b: u8, close: bool }
    67 Return0 {}
    68 Return1 { a: u8 }
    69 ForPrep { a: u8, skip: u32 }
    70 ForLoop { a: u8, back: u32 }
    71 TForPrep { a: u8, skip: u32 }
    72 TForCall { a: u8, c: u8 }
    73 TForLoop { a: u8, back: u32 }
    74 SetList { a: u8, n: u8, start: u32 }
    75 Closure { a: u8, proto: u32 }
    76 VarArg { a: u8, c: u8 }
}
