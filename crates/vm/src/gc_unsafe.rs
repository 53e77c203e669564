//! The audited module: the only `unsafe` code of lunette (manual `Collect` impls).
//!
//! `Collect` is an unsafe trait because a `Gc` pointer that is not traced may be freed while
//! still held. Two types here trace some of their pointers *weakly* — only while the VM runs
//! a full, host-requested collection (`weak_tracing_active()`):
//! - `TableState` of a table whose metatable has `__mode` (`k` and/or `v`);
//! - `FinalizerList`, the objects with a `__gc` metamethod not yet finalized.
//!
//! Soundness argument (see `gc::full_collection`): weak tracing is on only for a marking run
//! that goes to completion without mutation; in the `finalize` step that follows, every
//! weakly-traced pointer to a dead object is removed (weak table entries cleared, dead
//! finalizable objects moved to a strongly traced queue and resurrected); weak tracing is then
//! turned off *before* marking resumes, so anything resurrected (including weak tables reachable
//! only from resurrected objects) is traced strongly. Hence no reachable object ever holds a
//! pointer to a swept allocation.

#![allow(unsafe_code)]

use gc_arena::collect::Trace;
use gc_arena::{Collect, Gc};

use crate::gc::{note_traced, weak_mode_of, weak_tracing_active, FinalizerList};
use crate::table::TableState;
use crate::value::Value;

/// Traces `v` weakly: marks nothing, but keeps the pointer known to the collector.
fn trace_weak<'gc, T: Trace<'gc>>(v: &Value<'gc>, cc: &mut T) {
    match *v {
        Value::Table(t) => cc.trace_gc_weak(Gc::downgrade(Gc::erase(t.0))),
        Value::Function(f) => cc.trace_gc_weak(Gc::downgrade(Gc::erase(f.0))),
        Value::Callback(c) => cc.trace_gc_weak(Gc::downgrade(Gc::erase(c.0))),
        Value::Thread(t) => cc.trace_gc_weak(Gc::downgrade(Gc::erase(t.0))),
        Value::UserData(u) => cc.trace_gc_weak(Gc::downgrade(Gc::erase(u.0))),
        // Strings are values, not objects, for weakness: always strong.
        other => cc.trace(&other),
    }
}

// SAFETY: every `Gc` held by a `TableState` (array values, entry keys and values, the
// metatable) is traced; weakly only under the protocol described in the module docs.
unsafe impl<'gc> Collect<'gc> for TableState<'gc> {
    fn trace<T: Trace<'gc>>(&self, cc: &mut T) {
        note_traced(self.array.len() + 2 * self.entries.len());
        let (weak_keys, weak_values) = if weak_tracing_active() {
            weak_mode_of(self.metatable)
        } else {
            (false, false)
        };
        for v in &self.array {
            if weak_values {
                trace_weak(v, cc);
            } else {
                cc.trace(v);
            }
        }
        for (k, v) in &self.entries {
            if weak_keys {
                trace_weak(k, cc);
            } else {
                cc.trace(k);
            }
            if weak_values {
                trace_weak(v, cc);
            } else {
                cc.trace(v);
            }
        }
        cc.trace(&self.metatable);
    }
}

// SAFETY: every value of the list is traced; weakly only under the module's protocol.
unsafe impl<'gc> Collect<'gc> for FinalizerList<'gc> {
    fn trace<T: Trace<'gc>>(&self, cc: &mut T) {
        let weak = weak_tracing_active();
        for v in &self.0 {
            if weak {
                trace_weak(v, cc);
            } else {
                cc.trace(v);
            }
        }
    }
}
