//! Big strings built in pieces across steps: a `..`, `string.rep`, `table.concat`, `gsub`,
//! `format`, `sub`, `upper`, `lower` or `reverse` whose result is longer than
//! [`BUILD_IN_PIECES`] bytes writes it [`PIECE_BYTES`] at a time,
//! charging each piece before writing it and reaching a step boundary when the fuel runs
//! out, so no single step copies (and page-faults in) tens of megabytes: the fuel contract's
//! "every unit of fuel buys a bounded amount of work" holds for string building too.
//!
//! **Logical state** (what snapshots and rollbacks see) is a pause table
//! (`Context::new_pause_table`): the result's length, the bytes written so far, the parts
//! (strings) and their [`Shape`]: concatenated, repeated and cut at the length (a plain
//! concatenation is one period; `string.rep` is many), or one part sliced, case-mapped or
//! reversed. A paused build is that table in a continuation, like any other resumable
//! builtin's state.
//!
//! **Physical state** is the result's buffer: an `Arc<[u8]>` allocated uninitialized, each
//! piece's bytes zeroed just before it is written (`gc_unsafe::PieceBuffer`: fresh memory is
//! mapped lazily, so each page is first touched by the piece that writes it, and a block the
//! allocator reuses is not zeroed whole in one step, as `calloc` does) and filled in
//! order, kept in `Builds`, outside snapshots. A buffer is found again by its recipe: the
//! identity of the parts' byte buffers (the cache holds them, so the identities cannot be
//! reused meanwhile) and the length. The first `filled` bytes are a pure function of the
//! recipe, so a buffer is right for any build of the same recipe whatever its progress: a
//! rollback to an earlier point of the build keeps using it, and a build that finds no
//! buffer (restored into another VM, or evicted by more than `KEPT_BUILDS` builds in
//! progress at once) writes the bytes it already paid for again, uncharged, then goes on.
//! The finished buffer becomes the string's bytes without a copy.
//!
//! **Memory.** The result's bytes are reserved against the limit before the build starts
//! (the caller's reservation) and charged when the string is made, at the end;
//! nothing else runs in the executor meanwhile, so the account plus the buffer stays within
//! what the reservation allowed. At most `KEPT_BUILDS` buffers are kept.

use std::cell::RefCell;
use std::sync::Arc;

use crate::error::Error;
use crate::executor::Exec;
use crate::function::{Action, Callback, Outcome, Then};
use crate::gc_unsafe::PieceBuffer;
use crate::state::Context;
use crate::string::LuaString;
use crate::table::Table;
use crate::value::Value;
use lunette_gc_snapshot::HashInProgress;

/// Results longer than this are built in pieces (shorter ones are written at once: a copy of
/// this size takes well under a millisecond).
pub const BUILD_IN_PIECES: usize = 1 << 18;
/// Bytes written per piece.
pub const PIECE_BYTES: usize = 1 << 16;
/// Bytes written per unit of fuel (and one unit per piece).
pub const FILL_BYTES_PER_FUEL: usize = 64;
/// Buffers of builds in progress kept at once (one per executor paused inside a build is
/// the common case; more only with several executors building at the same time).
const KEPT_BUILDS: usize = 2;

/// The builder's name. Debug hooks do not see the builder (PUC makes no call there): the
/// executor skips its call and return events by this name (`executor::hidden_from_hooks`).
pub(crate) const NAME: &str = "string builder";
/// The name of the continuation that returns a built string from the builtin that asked for
/// it (its return event is that builtin's, so it must not be hidden like the builder).
const RESULT_NAME: &str = "built string";
/// Where the builder callback is kept (made at the first big build, so VMs that never build
/// one do not spend an object id on it).
const REGISTRY_KEY: &str = "lunette.build_string";

// The state table's slots.
const SLOT_TOTAL: i64 = 1;
const SLOT_DONE: i64 = 2;
const SLOT_SHAPE: i64 = 3;
const SLOT_OFFSET: i64 = 4;
const FIRST_PART: i64 = 5;

/// How a build's bytes come from its parts.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Shape {
    /// The parts concatenated, repeated, cut at the length (`..`, `rep`, `concat`).
    Repeat,
    /// The one part from byte `offset` (0-based) on, for the length (`string.sub`).
    Slice(usize),
    /// The one part with ASCII letters in upper case (`string.upper`).
    Upper,
    /// The one part with ASCII letters in lower case (`string.lower`).
    Lower,
    /// The one part backwards (`string.reverse`).
    Reverse,
}

impl Shape {
    fn code(self) -> (i64, usize) {
        match self {
            Shape::Repeat => (0, 0),
            Shape::Slice(offset) => (1, offset),
            Shape::Upper => (2, 0),
            Shape::Lower => (3, 0),
            Shape::Reverse => (4, 0),
        }
    }

    fn from_code(code: i64, offset: usize) -> Option<Shape> {
        Some(match code {
            0 => Shape::Repeat,
            1 => Shape::Slice(offset),
            2 => Shape::Upper,
            3 => Shape::Lower,
            4 => Shape::Reverse,
            _ => return None,
        })
    }
}

/// What a build writes: its parts shaped (see [`Shape`]) into `total` bytes.
struct Recipe {
    parts: Vec<Arc<[u8]>>,
    shape: Shape,
    total: usize,
}

impl Recipe {
    fn period(&self) -> usize {
        self.parts.iter().map(|p| p.len()).sum()
    }

    /// Whether the parts hold the bytes the shape reads.
    fn valid(&self) -> bool {
        let single = |need: usize| self.parts.len() == 1 && self.parts[0].len() >= need;
        match self.shape {
            Shape::Repeat => self.total == 0 || self.period() > 0,
            Shape::Slice(offset) => single(offset.saturating_add(self.total)),
            Shape::Upper | Shape::Lower | Shape::Reverse => single(self.total),
        }
    }

    /// Whether `other` builds the same bytes: same shape and length, same part buffers.
    fn same(&self, other: &Recipe) -> bool {
        self.total == other.total
            && self.shape == other.shape
            && self.parts.len() == other.parts.len()
            && self
                .parts
                .iter()
                .zip(&other.parts)
                .all(|(a, b)| Arc::ptr_eq(a, b))
    }

    /// Writes `out[from..to]`, given that `out[..from]` is written already (and `valid`).
    fn write(&self, out: &mut [u8], from: usize, to: usize) {
        let window = &mut out[from..to];
        match self.shape {
            Shape::Repeat => self.repeat_into(out, from, to),
            Shape::Slice(offset) => {
                window.copy_from_slice(&self.parts[0][offset + from..offset + to]);
            }
            Shape::Upper => {
                window.copy_from_slice(&self.parts[0][from..to]);
                window.make_ascii_uppercase();
            }
            Shape::Lower => {
                window.copy_from_slice(&self.parts[0][from..to]);
                window.make_ascii_lowercase();
            }
            Shape::Reverse => {
                let n = self.total;
                window.copy_from_slice(&self.parts[0][n - to..n - from]);
                window.reverse();
            }
        }
    }

    /// [`Recipe::write`] for [`Shape::Repeat`]: the first period from the parts (one pass
    /// over them, whatever their number: a `gsub` result can have thousands), the rest
    /// copied from what is written before.
    fn repeat_into(&self, out: &mut [u8], mut from: usize, to: usize) {
        let period = self.period();
        let first_end = to.min(period);
        if from < first_end {
            let mut lo = 0;
            for p in &self.parts {
                let hi = lo + p.len();
                if hi > from {
                    let (s, e) = (from.max(lo), first_end.min(hi));
                    out[s..e].copy_from_slice(&p[s - lo..e - lo]);
                    if hi >= first_end {
                        break;
                    }
                }
                lo = hi;
            }
            from = first_end;
        }
        while from < to {
            // Repeat the longest whole number of periods already written.
            let back = from - from % period;
            let n = (to - from).min(back);
            out.copy_within(from - back..from - back + n, from);
            from += n;
        }
    }
}

/// A build's buffer: `buf[..filled]` is written; `buf` is never shared until it is taken.
/// `hash` has folded the blocks of `buf[..filled]`: the string is hashed as it is written,
/// piece by piece, so its first use as a table key (or in a snapshot) does not hash
/// megabytes at once.
struct Build {
    recipe: Recipe,
    buf: PieceBuffer,
    filled: usize,
    hash: HashInProgress,
}

/// The buffers of builds in progress (physical state, outside snapshots; see the module
/// docs), most recently used last.
#[derive(Default)]
pub(crate) struct Builds {
    builds: RefCell<Vec<Build>>,
}

impl Builds {
    /// Makes the buffer of `recipe` hold its first `upto` bytes (allocating it, and writing
    /// again what an earlier piece paid for, if it was not kept).
    fn fill_to(&self, recipe: Recipe, upto: usize) {
        let build = self.filled_build(recipe, upto);
        self.builds.borrow_mut().push(build);
    }

    /// The build of `recipe`, taken out of the cache (or made), its first `upto` bytes
    /// written.
    fn filled_build(&self, recipe: Recipe, upto: usize) -> Build {
        let mut builds = self.builds.borrow_mut();
        let mut build = match builds.iter().position(|b| b.recipe.same(&recipe)) {
            Some(i) => builds.remove(i),
            None => {
                if builds.len() >= KEPT_BUILDS {
                    builds.remove(0);
                }
                Build {
                    buf: PieceBuffer::new(recipe.total),
                    hash: HashInProgress::new(recipe.total),
                    recipe,
                    filled: 0,
                }
            }
        };
        let upto = upto.min(build.recipe.total);
        if build.filled < upto {
            if let Some(out) = build.buf.prefix_mut(upto) {
                build.recipe.write(out, build.filled, upto);
                build.hash.update(out);
                build.filled = upto;
            }
        }
        build
    }

    /// The finished bytes of `recipe`, taken out of the cache, and their content hash
    /// (`string::hash_bytes`).
    fn take(&self, recipe: Recipe) -> (Arc<[u8]>, u64) {
        let total = recipe.total;
        let build = self.filled_build(recipe, total);
        let hash = build.hash;
        let bytes = match build.buf.finish() {
            Ok(bytes) => bytes,
            // (Cannot happen: a build's buffer is its own until it is taken, so it was
            // written whole. Written here in one piece, it is the same string.)
            Err(_) => {
                let mut bytes = vec![0; total];
                build.recipe.write(&mut bytes, 0, total);
                Arc::from(bytes)
            }
        };
        let hash = hash.finish(&bytes).max(1);
        (bytes, hash)
    }
}

/// Starts building the string of `parts` (strings) shaped by `shape` into `total` bytes: the
/// state table to pass to [`builder`]. The caller has checked that `total` fits
/// (`MAX_STRING_LEN`) and reserved it against the memory limit; `total` must be more than
/// [`BUILD_IN_PIECES`], and the parts must hold what the shape reads (a builder given
/// anything else fails with "lost state").
pub fn start<'gc>(
    ctx: Context<'gc>,
    parts: &[Value<'gc>],
    total: usize,
    shape: Shape,
) -> Table<'gc> {
    // (A pause table: whether a result is built in pieces must change no id or count.)
    let t = ctx.new_pause_table(parts.len() + 4);
    let (code, offset) = shape.code();
    for (k, v) in [
        (SLOT_TOTAL, total as i64),
        (SLOT_DONE, 0),
        (SLOT_SHAPE, code),
        (SLOT_OFFSET, offset as i64),
    ] {
        let _ = t.set(ctx, Value::Integer(k), Value::Integer(v));
    }
    for (i, &p) in parts.iter().enumerate() {
        let _ = t.set(ctx, Value::Integer(FIRST_PART + i as i64), p);
    }
    t
}

/// The builder: a callback that takes a state table made by [`start`] and returns the
/// string, in pieces across steps (one per VM, kept in the registry).
pub fn builder<'gc>(ctx: Context<'gc>) -> Value<'gc> {
    kept_callback(ctx, REGISTRY_KEY, build_string)
}

/// The callback `func` named [`NAME`] (hidden from hooks), kept in the registry under `key`
/// (made at its first use, so VMs that never need it do not spend an object id on it).
fn kept_callback<'gc>(
    ctx: Context<'gc>,
    key: &str,
    func: crate::function::CallbackFn,
) -> Value<'gc> {
    let existing = ctx.registry().get(ctx.key(key));
    if !existing.is_nil() {
        return existing;
    }
    let f = Value::Callback(Callback::new(ctx, NAME, func));
    let _ = ctx.registry().set(ctx, ctx.str(key), f);
    f
}

/// Returns, from a callback, the string of `parts` shaped by `shape` (see [`start`]),
/// followed by `extra` (a
/// second result, such as `gsub`'s count), built by [`builder`]. (Called with a
/// continuation rather than as a tail call, so the callback's return event fires for a
/// debug hook, as in PUC, where no builder exists.)
pub fn return_built<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    parts: &[Value<'gc>],
    total: usize,
    shape: Shape,
    extra: Option<Value<'gc>>,
) -> Action<'gc> {
    let st = start(ctx, parts, total, shape);
    exec.clear();
    exec.push(Value::Table(st));
    Action::Call {
        function: builder(ctx),
        then: Some(Then::new(
            RESULT_NAME,
            built_result,
            extra.unwrap_or(Value::Nil),
        )),
    }
}

/// A value to make as a slice of a string, in pieces: `len` bytes (more than
/// [`BUILD_IN_PIECES`]) of `source` from byte `offset` (0-based), at position `index` of a
/// list of values (see [`return_with_slices`], [`call_with_slices`]).
#[derive(Clone, Copy, Debug)]
pub struct Slice<'gc> {
    /// Where the value goes in the list.
    pub index: usize,
    /// The string it is a slice of.
    pub source: LuaString<'gc>,
    /// Its first byte in `source`.
    pub offset: usize,
    /// Its length.
    pub len: usize,
}

// The state of a list of values with slices to build: [the function to call with them, or
// nil to return them; the number of values; the slices built so far; the number of
// slices; the values...; per slice: its index, source, offset, length].
const SLICES_CALL: i64 = 1;
const SLICES_VALUES: i64 = 2;
const SLICES_CURSOR: i64 = 3;
const SLICES_COUNT: i64 = 4;
const SLICES_FIRST: i64 = 5;

fn slices_state<'gc>(
    ctx: Context<'gc>,
    call: Value<'gc>,
    values: &[Value<'gc>],
    slices: &[Slice<'gc>],
) -> Table<'gc> {
    let t = ctx.new_pause_table(values.len() + 4 * slices.len() + 4);
    let head = [
        call,
        Value::Integer(values.len() as i64),
        Value::Integer(0),
        Value::Integer(slices.len() as i64),
    ];
    for (k, v) in head.into_iter().chain(values.iter().copied()).enumerate() {
        let _ = t.set(ctx, Value::Integer(k as i64 + 1), v);
    }
    let mut k = SLICES_FIRST + values.len() as i64;
    for s in slices {
        for v in [
            Value::Integer(s.index as i64),
            Value::String(s.source),
            Value::Integer(s.offset as i64),
            Value::Integer(s.len as i64),
        ] {
            let _ = t.set(ctx, Value::Integer(k), v);
            k += 1;
        }
    }
    t
}

/// Returns `values` from a callback, each of `slices` first built in pieces by the string
/// builder into its place (the others as they are: a capture's `nil` placeholder is
/// replaced). The caller has reserved the slices' bytes against the memory limit; the
/// builder charges them piece by piece. (`string.find`'s and `match`'s captures.)
pub fn return_with_slices<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    values: &[Value<'gc>],
    slices: &[Slice<'gc>],
) -> Result<Action<'gc>, Error<'gc>> {
    let st = slices_state(ctx, Value::Nil, values, slices);
    next_slice(ctx, exec, st)
}

/// The function and argument to call (`[f, state]`) for a call of `function` with `values`,
/// each of `slices` first built in pieces into its place (see [`return_with_slices`]): a
/// callback hidden from debug hooks, like the builder, that builds them, then tail-calls
/// `function` with the values. (`gsub`'s captures passed to its replacement function.)
pub fn call_with_slices<'gc>(
    ctx: Context<'gc>,
    function: Value<'gc>,
    values: &[Value<'gc>],
    slices: &[Slice<'gc>],
) -> [Value<'gc>; 2] {
    let st = slices_state(ctx, function, values, slices);
    [
        kept_callback(ctx, SLICES_REGISTRY_KEY, build_slices),
        Value::Table(st),
    ]
}

/// Where the callback of [`call_with_slices`] is kept.
const SLICES_REGISTRY_KEY: &str = "lunette.build_slices";

fn build_slices<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
) -> Result<Action<'gc>, Error<'gc>> {
    match exec.arg(0) {
        Value::Table(st) => next_slice(ctx, exec, st),
        _ => Err(lost_state()),
    }
}

/// Stores a slice the builder returned, then builds the next one (see [`next_slice`]).
fn slice_built<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _outcome: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let Value::Table(st) = exec.upvalue else {
        return Err(lost_state());
    };
    let int = |k: i64| st.get_int(k).as_integer_strict().unwrap_or(-1);
    let (values, cursor) = (int(SLICES_VALUES), int(SLICES_CURSOR));
    let (Value::String(built), true) = (exec.arg(0), cursor >= 1 && values >= 0) else {
        return Err(lost_state());
    };
    let index = int(SLICES_FIRST + values + 4 * (cursor - 1));
    if !(0..values).contains(&index) {
        return Err(lost_state());
    }
    let _ = st.set(
        ctx,
        Value::Integer(SLICES_FIRST + index),
        Value::String(built),
    );
    next_slice(ctx, exec, st)
}

/// Builds the next slice of `st`, or, when all are built, returns the values or calls the
/// function with them.
fn next_slice<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    st: Table<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let int = |k: i64| st.get_int(k).as_integer_strict().unwrap_or(-1);
    let (values, cursor, count) = (int(SLICES_VALUES), int(SLICES_CURSOR), int(SLICES_COUNT));
    if values < 0 || cursor < 0 || cursor > count {
        return Err(lost_state());
    }
    exec.clear();
    if cursor < count {
        let at = SLICES_FIRST + values + 4 * cursor;
        let source = st.get_int(at + 1);
        let (Ok(offset), Ok(len)) = (usize::try_from(int(at + 2)), usize::try_from(int(at + 3)))
        else {
            return Err(lost_state());
        };
        // (A slice the builder cannot make is refused by it: "lost state".)
        let _ = st.set(
            ctx,
            Value::Integer(SLICES_CURSOR),
            Value::Integer(cursor + 1),
        );
        exec.push(Value::Table(start(
            ctx,
            &[source],
            len,
            Shape::Slice(offset),
        )));
        return Ok(Action::Call {
            function: builder(ctx),
            then: Some(Then::new(RESULT_NAME, slice_built, Value::Table(st))),
        });
    }
    exec.reserve_values(ctx, values as usize, "too many results")?;
    for k in 0..values {
        exec.push(st.get_int(SLICES_FIRST + k));
    }
    match st.get_int(SLICES_CALL) {
        Value::Nil => Ok(Action::Return),
        function => Ok(Action::Call {
            function,
            then: None,
        }),
    }
}

/// Returns the built string, followed by the continuation's state unless it is nil.
fn built_result<'gc>(
    _ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _outcome: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let extra = exec.upvalue;
    if !extra.is_nil() {
        exec.push(extra);
    }
    Ok(Action::Return)
}

fn build_string<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
) -> Result<Action<'gc>, Error<'gc>> {
    match exec.arg(0) {
        Value::Table(st) => build_pieces(ctx, exec, st),
        _ => Err(lost_state()),
    }
}

fn build_next<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _outcome: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    match exec.upvalue {
        Value::Table(st) => build_pieces(ctx, exec, st),
        _ => Err(lost_state()),
    }
}

fn lost_state<'gc>() -> Error<'gc> {
    Error::runtime("string builder: lost state")
}

/// The recipe in a state table, and the bytes written so far.
/// A state that could not have been made (from a corrupt image, say) is "lost state": its
/// length is never more than a string may have, nor than the memory limit (the caller
/// reserved it), so a build never allocates what no script could have asked for.
fn read_state<'gc>(ctx: Context<'gc>, st: Table<'gc>) -> Result<(Recipe, usize), Error<'gc>> {
    let int = |k: i64| {
        st.get_int(k)
            .as_integer_strict()
            .and_then(|i| usize::try_from(i).ok())
            .ok_or_else(lost_state)
    };
    let (total, done) = (int(SLOT_TOTAL)?, int(SLOT_DONE)?);
    let code = st.get_int(SLOT_SHAPE).as_integer_strict().unwrap_or(-1);
    let shape = Shape::from_code(code, int(SLOT_OFFSET)?).ok_or_else(lost_state)?;
    let mut parts = Vec::new();
    let mut k = FIRST_PART;
    while let Value::String(s) = st.get_int(k) {
        parts.push(s.shared_bytes());
        k += 1;
    }
    let recipe = Recipe {
        parts,
        shape,
        total,
    };
    let memory = ctx.memory();
    let too_long =
        total >= crate::interp::MAX_STRING_LEN || memory.limit().is_some_and(|limit| total > limit);
    if done > total || too_long || !recipe.valid() {
        return Err(lost_state());
    }
    Ok((recipe, done))
}

/// Writes pieces while fuel lasts (each charged before it is written), then pauses, or
/// returns the finished string. The pieces depend only on the recipe, never on the fuel.
fn build_pieces<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    st: Table<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let (recipe, mut done) = read_state(ctx, st)?;
    let builds = &ctx.state().builds;
    loop {
        let n = (recipe.total - done).min(PIECE_BYTES);
        exec.charge(n / FILL_BYTES_PER_FUEL + 1);
        done += n;
        // (Written at every piece, paused or not: the state's contents must not depend on
        // where steps ended, since the checksum sees it until the next full collection.)
        let _ = st.set(ctx, Value::Integer(SLOT_DONE), Value::Integer(done as i64));
        if done == recipe.total {
            let (bytes, hash) = builds.take(recipe);
            exec.set_return(Value::String(
                ctx.new_string_from_hashed_buffer(bytes, hash),
            ));
            return Ok(Action::Return);
        }
        if exec.out_of_fuel() {
            builds.fill_to(recipe, done);
            exec.clear();
            return Ok(Action::Pause {
                then: Then::new(NAME, build_next, Value::Table(st)),
            });
        }
    }
}

/// The builder's callback and continuation in the VM's permanents table.
pub(crate) fn permanents(p: &mut crate::permanents::Permanents) {
    p.callback(("vm", "build_string"), NAME, build_string);
    p.continuation(("vm", "build_string_next"), NAME, build_next);
    p.continuation(("vm", "built_result"), RESULT_NAME, built_result);
    p.callback(("vm", "build_slices"), NAME, build_slices);
    p.continuation(("vm", "slice_built"), RESULT_NAME, slice_built);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipe(parts: &[&[u8]], total: usize) -> Recipe {
        shaped(parts, total, Shape::Repeat)
    }

    fn shaped(parts: &[&[u8]], total: usize, shape: Shape) -> Recipe {
        Recipe {
            parts: parts.iter().map(|p| Arc::from(*p)).collect(),
            shape,
            total,
        }
    }

    fn written_in_pieces(r: &Recipe, piece: usize) -> Vec<u8> {
        let mut out = vec![0u8; r.total];
        let mut at = 0;
        while at < r.total {
            let to = (at + piece).min(r.total);
            r.write(&mut out, at, to);
            at = to;
        }
        out
    }

    /// Thousands of parts (a `gsub` result's): written in pieces, in one pass per piece.
    #[test]
    fn many_parts_write_in_order() {
        let parts: Vec<Vec<u8>> = (0..3000u32)
            .map(|i| (0..i % 7).map(|k| b'a' + ((i + k) % 26) as u8).collect())
            .collect();
        let refs: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
        let whole = parts.concat();
        let r = recipe(&refs, whole.len());
        for piece in [1, 5, 64, 1000, whole.len()] {
            assert_eq!(written_in_pieces(&r, piece), whole, "piece {piece}");
        }
    }

    /// The other shapes, in pieces of any size: a slice, the case mappings, the reverse.
    #[test]
    fn pieces_write_every_shape() {
        let s: &[u8] = b"Hello, World! 123 xyz";
        let cases: &[(Shape, usize, &[u8])] = &[
            (Shape::Slice(7), 5, b"World"),
            (Shape::Slice(0), 21, s),
            (Shape::Upper, 21, b"HELLO, WORLD! 123 XYZ"),
            (Shape::Lower, 21, b"hello, world! 123 xyz"),
            (Shape::Reverse, 21, b"zyx 321 !dlroW ,olleH"),
        ];
        for &(shape, total, want) in cases {
            let r = shaped(&[s], total, shape);
            assert!(r.valid(), "{shape:?}");
            for piece in [1, 2, 4, 7, 64] {
                assert_eq!(
                    written_in_pieces(&r, piece),
                    want,
                    "{shape:?}, piece {piece}"
                );
            }
        }
        // Parts that do not hold what the shape reads are refused (a corrupt state).
        assert!(!shaped(&[s], 22, Shape::Upper).valid());
        assert!(!shaped(&[s], 10, Shape::Slice(12)).valid());
        assert!(!shaped(&[s, s], 21, Shape::Reverse).valid());
        assert!(!shaped(&[b""], 5, Shape::Repeat).valid());
    }

    /// Writing in pieces of any size gives the parts repeated and cut at the length.
    #[test]
    fn pieces_write_the_parts_repeated() {
        let cases: &[(&[&[u8]], usize)] = &[
            (&[b"ab", b"", b"cde"], 5),
            (&[b"x"], 17),
            (&[b"xy", b", "], 4 * 7 - 2),
            (&[b"abc", b"-"], 2),
        ];
        for &(parts, total) in cases {
            let r = recipe(parts, total);
            let period: Vec<u8> = parts.concat();
            let expected: Vec<u8> = period.iter().copied().cycle().take(total).collect();
            for piece in [1, 2, 3, 5, 64] {
                let out = written_in_pieces(&r, piece);
                assert_eq!(out, expected, "parts {parts:?}, piece {piece}");
            }
        }
    }

    /// A buffer is found again only by a recipe with the same part buffers and length, and
    /// a build that lost its buffer writes it again from the start.
    #[test]
    fn buffers_are_found_by_recipe() {
        let builds = Builds::default();
        let a: Arc<[u8]> = Arc::from(&b"ab"[..]);
        let same = || Recipe {
            parts: vec![a.clone()],
            shape: Shape::Repeat,
            total: 9,
        };
        builds.fill_to(same(), 4);
        builds.fill_to(recipe(&[b"ab"], 9), 2);
        assert_eq!(builds.builds.borrow().len(), 2);
        builds.fill_to(recipe(&[b"zz"], 3), 1);
        // the oldest (the first recipe) was evicted: taken again, it is written whole
        let (bytes, hash) = builds.take(same());
        assert_eq!(&*bytes, b"ababababa");
        assert_eq!(hash, crate::string::hash_bytes(b"ababababa"));
        assert_eq!(builds.builds.borrow().len(), 1);
    }
}
