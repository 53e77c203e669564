//! The object description: what every mechanism that walks or copies VM objects needs to
//! know about an object kind, stated once per kind.
//!
//! The object kinds are: table, Lua closure, upvalue, prototype, string, thread, executor,
//! callback, userdata and resumable builtin state. Each kind's module describes it with:
//! - [`References`]: every reference the object (or its mutable state) holds, in a fixed
//!   order. The logical mark of a full collection (`gc`), the bytes only the snapshot ring
//!   holds (`journal::Journal::visit_held`) and the physical trace of tables (`gc_unsafe`)
//!   follow it.
//! - [`JournaledState`](crate::journal::JournaledState) for the mutable state of tables,
//!   threads, executors, upvalues, userdata (metatable and flags) and resumable builtin
//!   states (`resumable`, whose own description is its `ResumableState` impl): the exact copy the
//!   snapshot ring saves at an object's first write of an epoch and how it is put back. The
//!   state lives in a [`Journaled`](crate::journal::Journaled) or
//!   [`JournaledValue`](crate::journal::JournaledValue) cell, whose only mutable accessors
//!   save it first: every mutation is journaled by construction.
//! - its image in an owned snapshot (`snapshot::image`), written by `snapshot::capture` and
//!   read back by `snapshot::rebuild`; the checksum hashes the image (`snapshot::checksum`).
//!
//! Every implementation destructures the object's fields exhaustively (no `..`) and builds
//! images and copies with struct literals: a field added to an object kind does not compile
//! until each mechanism says what it does with it (copy, reference, or deliberately skip, as
//! `ThreadState::raised_by`, which no snapshot can see). `tests` at the end of `snapshot`
//! check the mechanisms agree at run time: capture → rebuild → capture, and snap → change
//! every kind → rollback give identical images, capacities and charges included.

use gc_arena::Gc;

use crate::executor::Executor;
use crate::function::{FunctionProto, UpValue};
use crate::value::Value;

/// A reference from one VM object to another, as the graph walks see it. Values cover
/// strings, tables, closures, callbacks, threads and userdata; the other kinds are never Lua
/// values.
#[derive(Copy, Clone)]
pub(crate) enum Reference<'gc> {
    Value(Value<'gc>),
    UpValue(UpValue<'gc>),
    Proto(Gc<'gc, FunctionProto<'gc>>),
    Executor(Executor<'gc>),
    /// A resumable builtin state (`resumable`), held by the continuation waiting on it.
    Resumable(crate::resumable::Resumable<'gc>),
}

/// The references an object holds (see the module docs). Weak tables list their entries
/// like any table: weakness is decided by the logical mark, which walks a weak table's
/// entries itself (`gc::LogicalMark`).
pub(crate) trait References<'gc> {
    /// Calls `f` with every reference, in a fixed order.
    fn references(&self, f: &mut impl FnMut(Reference<'gc>));
}

impl<'gc> References<'gc> for Value<'gc> {
    #[inline]
    fn references(&self, f: &mut impl FnMut(Reference<'gc>)) {
        if self.gc_address().is_some() {
            f(Reference::Value(*self));
        }
    }
}

impl<'gc, T: References<'gc>> References<'gc> for Option<T> {
    #[inline]
    fn references(&self, f: &mut impl FnMut(Reference<'gc>)) {
        if let Some(x) = self {
            x.references(f);
        }
    }
}

impl<'gc, T: References<'gc>> References<'gc> for [T] {
    #[inline]
    fn references(&self, f: &mut impl FnMut(Reference<'gc>)) {
        for x in self {
            x.references(f);
        }
    }
}

impl<'gc, T: References<'gc>> References<'gc> for Vec<T> {
    #[inline]
    fn references(&self, f: &mut impl FnMut(Reference<'gc>)) {
        self.as_slice().references(f);
    }
}

impl<'gc> References<'gc> for UpValue<'gc> {
    #[inline]
    fn references(&self, f: &mut impl FnMut(Reference<'gc>)) {
        f(Reference::UpValue(*self));
    }
}

impl<'gc> References<'gc> for crate::table::Table<'gc> {
    #[inline]
    fn references(&self, f: &mut impl FnMut(Reference<'gc>)) {
        f(Reference::Value(Value::Table(*self)));
    }
}

impl<'gc> References<'gc> for crate::thread::Thread<'gc> {
    #[inline]
    fn references(&self, f: &mut impl FnMut(Reference<'gc>)) {
        f(Reference::Value(Value::Thread(*self)));
    }
}

#[cfg(test)]
mod tests {
    use std::mem::size_of;

    /// The object kinds scripts make in bulk must each stay an allocation of at most 120
    /// bytes with gc-arena 0.7's two-word header (the object list's link and a tagged vtable
    /// pointer): a 128-byte glibc chunk, the largest its fast bins serve. At 160 bytes a
    /// table's frees went through the unsorted bin, and binary_trees spent a fifth of its
    /// time in `malloc`'s bin management; a userdata was 144 bytes while it carried a copy of
    /// its type's payload functions.
    #[test]
    fn objects_made_in_bulk_fit_a_fast_bin() {
        let header = 2 * size_of::<usize>();
        let kinds = [
            ("table", size_of::<crate::table::TableInner<'static>>()),
            (
                "userdata",
                size_of::<crate::userdata::UserDataInner<'static>>(),
            ),
            (
                "Lua closure",
                size_of::<crate::function::ClosureInner<'static>>(),
            ),
            (
                "upvalue",
                size_of::<crate::journal::JournaledValue<crate::function::UpValueState<'static>>>(),
            ),
            ("string", size_of::<crate::string::StringData>()),
        ];
        for (kind, size) in kinds {
            assert!(
                header + size <= 120,
                "a {kind} object is {} bytes",
                header + size
            );
        }
    }
}
