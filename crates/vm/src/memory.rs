//! Byte accounting and the memory limit.
//!
//! gc-arena counts objects, not bytes, so the VM counts its own: every object carries a
//! [`Charge`] for its fixed size plus the buffers it owns (a table's array, entries and index;
//! a thread's stack and frames; a string's bytes...), resynchronised when a buffer's capacity
//! changes and given back when the object is dropped by the collector.
//!
//! Charges go to the *current* account: a thread-local set by [`AccountGuard`] while the VM
//! runs (`Lua::enter`, collections, restores, drop). Objects never outlive their arena, and
//! every arena operation happens under its VM's guard, so each byte is charged to and
//! discharged from the same account.
//!
//! The limit is enforced at safe points, not inside allocations: the interpreter checks
//! `over_limit` where it checks fuel (calls and backward jumps), and builtins that are about to
//! build large buffers call `Exec::reserve` first. Over the limit, the executor first ends the
//! step and asks for a full collection; if the VM is still over the limit after it, the script
//! gets a catchable `not enough memory` error. One operation can overshoot by at most its own
//! size (a single request larger than the limit is refused outright), so a VM stays within
//! about twice its limit.
//!
//! Determinism: when the limit is hit depends on when the collector frees garbage, so (like in
//! PUC Lua) a script that runs out of memory is not guaranteed to fail at the same point in two
//! runs. What a script can read (`collectgarbage("count")`) is deterministic: see
//! `MemoryAccount::script_count`.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// Fixed cost of one garbage-collected object: gc-arena's header plus allocator overhead.
pub(crate) const GC_HEADER: usize = 32;

/// A VM's memory counters.
pub struct MemoryAccount {
    used: Cell<usize>,
    peak: Cell<usize>,
    limit: Cell<usize>,
    /// Full collections completed (the executor notes it when it first sees the VM over the
    /// limit, and raises the error only after a later collection).
    collections: Cell<u64>,
    /// `Some(n)`: the VM was seen over the limit when `collections` was `n`.
    over_since: Cell<Option<u64>>,
    /// What `collectgarbage("count")` reports (see `script_bytes`).
    script_bytes: Cell<usize>,
    /// `used` at the last collector step (for pacing by bytes).
    step_mark: Cell<usize>,
}

impl Default for MemoryAccount {
    fn default() -> Self {
        MemoryAccount {
            used: Cell::new(0),
            peak: Cell::new(0),
            limit: Cell::new(usize::MAX),
            collections: Cell::new(0),
            over_since: Cell::new(None),
            script_bytes: Cell::new(0),
            step_mark: Cell::new(0),
        }
    }
}

impl MemoryAccount {
    /// Bytes currently charged.
    pub fn used(&self) -> usize {
        self.used.get()
    }

    /// The most bytes ever charged at once.
    pub fn peak(&self) -> usize {
        self.peak.get()
    }

    /// Most bytes a compilation may hold (`lunette_compiler::compile_with_limit`;
    /// `usize::MAX` without a limit): what the limit has left, but at least a quarter of the
    /// limit, because the compiler cannot pause for a collection and the bytes in use may be
    /// garbage. So a compilation overshoots the limit by at most a quarter of it; the
    /// prototypes it makes are then charged and the next safe point collects (and fails if
    /// that is not enough), as for any builtin's allocation.
    pub fn compile_budget(&self) -> usize {
        let limit = self.limit.get();
        limit.saturating_sub(self.used.get()).max(limit / 4)
    }

    pub fn limit(&self) -> Option<usize> {
        let l = self.limit.get();
        (l != usize::MAX).then_some(l)
    }

    pub(crate) fn set_limit(&self, limit: Option<usize>) {
        self.limit.set(limit.unwrap_or(usize::MAX));
    }

    /// Starts peak tracking over from the current usage.
    pub(crate) fn reset_peak(&self) {
        self.peak.set(self.used.get());
    }

    #[inline]
    pub(crate) fn over_limit(&self) -> bool {
        self.used.get() > self.limit.get()
    }

    /// Bytes gained since the last call (for the collector's pacing).
    pub(crate) fn growth_since_last_step(&self) -> usize {
        let used = self.used.get();
        used.saturating_sub(self.step_mark.replace(used))
    }

    /// After a full collection (the logical mark already set `script_bytes`).
    pub(crate) fn note_full_collection(&self) {
        self.collections.set(self.collections.get() + 1);
        if !self.over_limit() {
            // Back under the limit: the next overrun starts the protocol afresh.
            self.over_since.set(None);
        }
    }

    /// The memory size a script sees (`collectgarbage("count")`): the bytes of the objects
    /// reachable at the last full collection (its logical mark, `gc::logical_collection`) plus
    /// everything charged since. Frees done by the incremental
    /// collector are not subtracted, because *when* it runs depends on the host's step sizes;
    /// charges depend only on what the script did (buffer capacities are restored exactly by
    /// snapshots), so the value is the same in every run and after every rollback. It is part
    /// of snapshots.
    pub fn script_bytes(&self) -> usize {
        self.script_bytes.get()
    }

    pub(crate) fn set_script_bytes(&self, n: usize) {
        self.script_bytes.set(n);
    }

    /// The VM is over its limit at a safe point. `true`: a full collection already ran since
    /// it was first seen over, so raise the error now. `false`: collect first.
    pub(crate) fn over_limit_after_collection(&self) -> bool {
        match self.over_since.get() {
            Some(n) if self.collections.get() > n => {
                self.over_since.set(None);
                true
            }
            Some(_) => false,
            None => {
                self.over_since.set(Some(self.collections.get()));
                false
            }
        }
    }

    /// Whether a builtin may allocate `bytes` more. Refused if the request alone exceeds the
    /// limit; past the limit, the same protocol as the safe points: allowed the first time
    /// (the next safe point collects), refused if a collection already ran since.
    pub(crate) fn may_allocate(&self, bytes: usize) -> bool {
        let limit = self.limit.get();
        if bytes > limit {
            return false;
        }
        if self.used.get().saturating_add(bytes) <= limit {
            return true;
        }
        !self.over_limit_after_collection()
    }

    #[inline]
    fn add(&self, n: usize) {
        let u = self.used.get() + n;
        self.used.set(u);
        if u > self.peak.get() {
            self.peak.set(u);
        }
    }

    #[inline]
    fn sub(&self, n: usize) {
        self.used.set(self.used.get().saturating_sub(n));
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<MemoryAccount>>> = const { RefCell::new(None) };
}

/// Makes `account` the current one until dropped (restoring the previous one, so guards nest).
pub(crate) struct AccountGuard {
    previous: Option<Rc<MemoryAccount>>,
}

impl AccountGuard {
    pub(crate) fn new(account: &Rc<MemoryAccount>) -> Self {
        let previous = CURRENT.with(|c| c.replace(Some(account.clone())));
        AccountGuard { previous }
    }
}

impl Drop for AccountGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

/// Charges `n` bytes of an object whose creation (or growth) is a deterministic consequence
/// of what the script did: counted in use and in `script_bytes`.
#[inline]
fn charge(n: usize) {
    if n != 0 {
        CURRENT.with(|c| {
            if let Some(a) = &*c.borrow() {
                a.add(n);
                a.script_bytes.set(a.script_bytes.get() + n);
            }
        });
    }
}

#[inline]
fn discharge(n: usize) {
    if n != 0 {
        CURRENT.with(|c| {
            if let Some(a) = &*c.borrow() {
                a.sub(n)
            }
        });
    }
}

/// The bytes an object holds, charged to the current account; given back on drop.
pub(crate) struct Charge(Cell<usize>);

impl Charge {
    pub(crate) fn new(bytes: usize) -> Self {
        charge(bytes);
        Charge(Cell::new(bytes))
    }

    /// Sets the charge to `bytes` (after a buffer grew or shrank).
    #[inline]
    pub(crate) fn set(&self, bytes: usize) {
        let old = self.0.get();
        if bytes > old {
            charge(bytes - old);
        } else {
            discharge(old - bytes);
        }
        self.0.set(bytes);
    }

    pub(crate) fn get(&self) -> usize {
        self.0.get()
    }
}

impl Default for Charge {
    fn default() -> Self {
        Charge(Cell::new(0))
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        discharge(self.0.get());
    }
}

/// Charges a string's bytes (given back by its own `Drop`). Counted in use only: whether an
/// interned string is created or found depends on whether the collector already freed an
/// equal dead one, so `script_bytes` counts string *requests* instead (`note_string`).
#[inline]
pub(crate) fn charge_bytes(n: usize) {
    if n != 0 {
        CURRENT.with(|c| {
            if let Some(a) = &*c.borrow() {
                a.add(n)
            }
        });
    }
}

/// A string of `n` bytes (cost) was asked for: counted in `script_bytes`, created or not.
#[inline]
pub(crate) fn note_string(account: &MemoryAccount, n: usize) {
    account.script_bytes.set(account.script_bytes.get() + n);
}

#[inline]
pub(crate) fn discharge_bytes(n: usize) {
    discharge(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_follow_the_current_account_and_nest() {
        let a = Rc::new(MemoryAccount::default());
        let b = Rc::new(MemoryAccount::default());
        let c1 = {
            let _g = AccountGuard::new(&a);
            let c = Charge::new(100);
            {
                let _g2 = AccountGuard::new(&b);
                let c2 = Charge::new(50);
                assert_eq!(b.used(), 50);
                drop(c2);
                assert_eq!(b.used(), 0);
                assert_eq!(b.peak(), 50);
            }
            c.set(300);
            assert_eq!(a.used(), 300);
            c.set(200);
            c
        };
        assert_eq!(a.used(), 200);
        assert_eq!(a.peak(), 300);
        {
            let _g = AccountGuard::new(&a);
            drop(c1);
        }
        assert_eq!(a.used(), 0);
    }

    #[test]
    fn limit_protocol_collects_before_failing() {
        let a = MemoryAccount::default();
        a.set_limit(Some(1000));
        assert!(
            !a.may_allocate(1001),
            "a request above the limit never fits"
        );
        a.add(1500);
        assert!(a.over_limit());
        assert!(
            a.may_allocate(10),
            "first time over: allowed, a collection comes next"
        );
        assert!(!a.over_limit_after_collection(), "no collection yet");
        a.note_full_collection();
        assert!(!a.may_allocate(10), "collected and still over: refused");
        // Refusing restarts the protocol: collect again before the next failure.
        assert!(!a.over_limit_after_collection());
        a.note_full_collection();
        assert!(
            a.over_limit_after_collection(),
            "collected and still over: fail"
        );
        // Back under the limit after a collection: the protocol starts afresh.
        a.sub(1000);
        assert!(!a.over_limit_after_collection());
        a.note_full_collection();
        a.add(1000);
        assert!(
            !a.over_limit_after_collection(),
            "a new overrun collects first"
        );
    }
}
