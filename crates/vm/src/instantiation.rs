//! Instantiating big chunks in pieces.
//!
//! Turning a compiled chunk into VM objects (each prototype with its constants as values,
//! then the main closure) costs about 10 ns a number constant, 200 ns a nested function and
//! up to a microsecond a string constant (interned, or made around the prototype's buffer):
//! a chunk of 400,000 constants or of 45,000 functions took about 10 ms, all in the step
//! that finished paying for its `load`, whatever the host's fuel budget. So `load` makes a
//! big chunk (a source of [`AT_ONCE_BYTES`] or more) in pieces of about [`PIECE_WORK`]
//! units of work ([`Context::instantiate_piece`]), each piece ending its step: the
//! prototypes bottom up (a function's nested functions before it, as
//! `FunctionProto::load_with` makes them), each prototype's constants a stretch at a time,
//! the main closure last.
//!
//! **Logical state** is the number of pieces made, kept by the caller (`load`'s state
//! table): the pieces are a pure function of the compiled chunk, so a `load` returns after
//! the same number of pieces, hence of steps, however the host steps, snapshots, rolls back
//! or moves the VM. Pieces cost no fuel (`load` paid a unit a source byte before).
//!
//! **Physical state** is what the pieces have made, kept in the VM's [`Instantiations`]
//! (outside snapshots, like compile jobs and string builds): the stack of prototypes being
//! made, from the main function down, each with the nested prototypes finished and the
//! constants made so far, and the number of pieces it holds, keyed by the identity of the
//! `load`'s state table and of the compiled chunk. A rollback or restore drops them all
//! (the physical state must hold exactly what the logical state says, for the memory
//! limit's sake too); a `load` that does not find its instantiation with the pieces it has
//! made (so restored or rolled back into the middle of one, or evicted by more than
//! [`KEPT`] loads instantiating at once) makes those pieces again, in its next step, then
//! goes on: that one step takes the time of all of them (the host's restore is what it
//! pays for), and nothing else changes. An instantiation whose `load` never goes on (its
//! coroutine was dropped) is kept until [`KEPT`] later ones push it out, like an abandoned
//! string build's buffer; one whose `load` fails between pieces (`not enough memory`) is
//! dropped then ([`Context::forget_load_pieces`]).
//!
//! **Memory.** The objects are charged to the account as they are made (the limit sees
//! them; each piece ends at a safe point), but what they add to the script's count
//! (`collectgarbage("count")`, `MemoryAccount::script_bytes`) is held back and added when
//! the closure is made, as if the chunk were made at once then: so a restart does not
//! count twice, and a collection's logical mark in between (which does not see the
//! pieces) counts none of it.
//!
//! Invariants:
//! - An [`Instantiation`]'s stack is never empty until the main prototype is finished
//!   (then the instantiation is removed). Each entry's nested prototypes are those of its
//!   `proto`, in order, all finished before its first constant is made; the entry above it
//!   (if any) is the nested prototype it makes next.
//! - `constants` never holds more values than `proto` has constants, nor `children` more
//!   than it has nested prototypes (both are sized for exactly that, so finishing a
//!   prototype moves them into it without a copy).

use std::sync::Arc;

use gc_arena::lock::RefLock;
use gc_arena::{Collect, Gc};
use lunette_compiler::{Constant, Prototype};
use lunette_gc_snapshot::HashInProgress;

use crate::function::{FunctionProto, LuaClosure};
use crate::gc_unsafe::unchecked::VerifiedProto;
use crate::memory::{heap_block, Charge};
use crate::state::Context;
use crate::table::Table;
use crate::value::Value;

/// A text chunk whose source is shorter than this is made at once: at most about 2,000
/// constants or 300 functions (a constant takes two bytes of source at least, a distinct
/// string constant four, a function a dozen), well under a millisecond.
pub const AT_ONCE_BYTES: usize = 4 * 1024;

/// The work one piece does, in units: a number, boolean or nil constant is one, a string
/// constant [`STRING_WORK`], a finished prototype [`PROTO_WORK`] plus one a local variable
/// and upvalue description (its charge reads them). About 0.5-1 ms a piece (65,536 number
/// constants; 1,024 string constants with 100,000 strings in the VM, where each string
/// made costs a cache miss or more).
pub const PIECE_WORK: usize = 1 << 16;

/// The work of making one string constant (see [`PIECE_WORK`]).
const STRING_WORK: usize = 64;

/// The work of finishing one prototype, beyond its constants (see [`PIECE_WORK`]): the
/// object, its charge, its constants' and nested prototypes' vectors moved into it.
const PROTO_WORK: usize = 32;

/// String constants longer than this are hashed as they are made, [`HASH_PIECE`] bytes at a
/// time (each [`HASH_PIECE`] / 64 units of work, about 15 µs), so their first use as a
/// table key (an 8 MiB identifier as a global name: ~2 ms in the step that first looked it
/// up) hashes nothing. Shorter ones are hashed at their first use, as before.
const HASHED_AHEAD_MIN: usize = 64 * 1024;

/// Bytes of a long string constant hashed between two checks of a piece's budget.
const HASH_PIECE: usize = 64 * 1024;

/// Instantiations kept at once (one per executor paused inside a `load` is the common
/// case).
const KEPT: usize = 2;

/// The chunks being instantiated in pieces (a field of the VM's state; see the module docs).
#[derive(Collect, Default)]
#[collect(no_drop)]
pub(crate) struct Instantiations<'gc> {
    kept: Vec<Instantiation<'gc>>,
}

/// The handle the VM's state holds.
pub(crate) type InstantiationsRef<'gc> = Gc<'gc, RefLock<Instantiations<'gc>>>;

impl<'gc> Instantiations<'gc> {
    /// Drops every instantiation in progress (a rollback or restore: the `load`s that
    /// started them may never run again; one that does starts over).
    pub(crate) fn clear(&mut self) {
        self.kept.clear();
    }
}

/// One chunk being instantiated.
#[derive(Collect)]
#[collect(no_drop)]
struct Instantiation<'gc> {
    /// The state table of the `load` that makes it (identity only).
    owner: Table<'gc>,
    /// The compiled chunk (identity: the same outcome the `load` finds again).
    #[collect(require_static)]
    chunk: Arc<Prototype>,
    /// The prototypes being made, the main function first (see the module invariants).
    stack: Vec<Partial<'gc>>,
    /// What the pieces added to the script's count so far, held back (see the module docs).
    #[collect(require_static)]
    withheld: usize,
    /// The pieces made.
    #[collect(require_static)]
    pieces: usize,
}

/// A prototype being made.
#[derive(Collect)]
#[collect(no_drop)]
struct Partial<'gc> {
    #[collect(require_static)]
    proto: VerifiedProto,
    /// Its nested prototypes finished so far, in order.
    children: Vec<Gc<'gc, FunctionProto<'gc>>>,
    /// Its constants made so far, in order.
    constants: Vec<Value<'gc>>,
    /// The heap blocks of its string constants' bytes so far (part of its charge:
    /// `function::proto_cost_with`).
    #[collect(require_static)]
    string_bytes: usize,
    /// The hash of the next constant, a long string, folded so far ([`HASHED_AHEAD_MIN`]).
    #[collect(require_static)]
    hashing: Option<HashInProgress>,
}

impl<'gc> Partial<'gc> {
    fn new(proto: VerifiedProto) -> Self {
        Partial {
            children: Vec::with_capacity(proto.prototypes.len()),
            constants: Vec::with_capacity(proto.constants.len()),
            string_bytes: 0,
            hashing: None,
            proto,
        }
    }

    /// Makes constants until they are all made or `work` reaches `budget`.
    fn make_constants(&mut self, ctx: Context<'gc>, work: &mut usize, budget: usize) {
        while let Some(c) = self.proto.constants.get(self.constants.len()) {
            if *work >= budget {
                return;
            }
            let v = match c {
                Constant::String(s) => {
                    // A long one is hashed as it is made (its first use as a key hashes
                    // nothing); either way it shares the prototype's buffer: no copy.
                    let hash = if s.len() > HASHED_AHEAD_MIN {
                        let hash = self.hashing.get_or_insert(HashInProgress::new(s.len()));
                        while hash.folded() < s.len() {
                            if *work >= budget {
                                return;
                            }
                            hash.update(&s[..(hash.folded() + HASH_PIECE).min(s.len())]);
                            *work += HASH_PIECE / 64;
                        }
                        self.hashing.take().map(|h| h.finish(s))
                    } else {
                        None
                    };
                    *work += STRING_WORK - 1;
                    self.string_bytes += heap_block(s.len());
                    Value::String(match hash {
                        Some(hash) => ctx.new_string_from_hashed_buffer(s.clone(), hash),
                        None => ctx.new_string_from_buffer(s.clone()),
                    })
                }
                plain => crate::function::plain_constant(plain),
            };
            *work += 1;
            self.constants.push(v);
        }
    }

    /// The finished prototype (all its nested prototypes and constants made).
    fn finish(self, ctx: Context<'gc>) -> Gc<'gc, FunctionProto<'gc>> {
        let charge = Charge::new(crate::function::proto_cost_with(
            &self.proto,
            self.string_bytes,
        ));
        Gc::new(
            ctx.mutation(),
            FunctionProto::build_from_values(
                self.proto,
                self.constants,
                self.children.into_boxed_slice(),
                charge,
            ),
        )
    }
}

impl<'gc> Instantiation<'gc> {
    /// Does up to about `budget` units of work; the main prototype once it is finished.
    fn advance(&mut self, ctx: Context<'gc>, budget: usize) -> Option<Gc<'gc, FunctionProto<'gc>>> {
        let mut work = 0;
        loop {
            let top = self.stack.last_mut()?;
            if let Some(child) = top.proto.child(top.children.len()) {
                work += 1;
                self.stack.push(Partial::new(child));
                continue;
            }
            top.make_constants(ctx, &mut work, budget);
            if work >= budget {
                return None;
            }
            let done = self.stack.pop()?;
            work += PROTO_WORK + done.proto.local_vars.len() + done.proto.upvalues.len();
            let finished = done.finish(ctx);
            match self.stack.last_mut() {
                Some(parent) => parent.children.push(finished),
                None => return Some(finished),
            }
        }
    }
}

impl<'gc> Context<'gc> {
    /// Drops what the pieces made for the `load` whose state table is `owner`: it failed
    /// between pieces (`not enough memory`), and nothing is left to hold it for.
    pub fn forget_load_pieces(self, owner: Table<'gc>) {
        self.state()
            .instantiations
            .borrow_mut(self.mutation())
            .kept
            .retain(|i| !Table::ptr_eq(i.owner, owner));
    }

    /// Makes piece `done` (counting from 0) of the instantiation of the verified chunk
    /// `proto` for the `load` whose state table is `owner`, and the pieces before it first
    /// if they are not at hand (see the module docs): the closure with `_ENV` = `env`
    /// (default: the globals) if that was the last piece, else `None` (call again with
    /// `done + 1`, after a step boundary).
    pub(crate) fn instantiate_piece(
        self,
        owner: Table<'gc>,
        proto: &VerifiedProto,
        env: Option<Value<'gc>>,
        done: usize,
    ) -> Option<LuaClosure<'gc>> {
        let mc = self.mutation();
        let memory = self.state().memory.clone();
        let mut all = self.state().instantiations.borrow_mut(mc);
        let found = all.kept.iter().position(|i| {
            Table::ptr_eq(i.owner, owner) && Arc::ptr_eq(&i.chunk, proto.arc()) && i.pieces <= done
        });
        let at = match found {
            Some(at) => at,
            None => {
                all.kept.retain(|i| !Table::ptr_eq(i.owner, owner));
                if all.kept.len() >= KEPT {
                    all.kept.remove(0);
                }
                all.kept.push(Instantiation {
                    owner,
                    chunk: proto.arc().clone(),
                    stack: vec![Partial::new(proto.clone())],
                    withheld: 0,
                    pieces: 0,
                });
                all.kept.len() - 1
            }
        };
        let counted = memory.script_bytes();
        let inst = &mut all.kept[at];
        let mut finished = None;
        while inst.pieces <= done && finished.is_none() {
            finished = inst.advance(self, PIECE_WORK);
            inst.pieces += 1;
        }
        let added = memory.script_bytes().saturating_sub(counted);
        inst.withheld += added;
        memory.set_script_bytes(counted);
        let main = finished?;
        let made = all.kept.remove(at);
        drop(all);
        memory.set_script_bytes(counted.saturating_add(made.withheld));
        Some(self.closure_of(main, env, false))
    }
}
