//! The incremental checksum: `S`, the sum of the member hashes of L (see `checksum` for the
//! definition), kept up to date object by object so that `Lua::checksum` costs what changed
//! since the last one.
//!
//! A VM tracks from its first `Lua::checksum` on (or from the restore of an image that
//! carries a tracked checksum). While it tracks:
//! - every member made is listed (`Tracker::made`, through `Journal::made`), and every
//!   member written is listed at its first write of a *tick* (`Tracker::written`): the
//!   journal's copy-on-first-write test finds it, so the journal runs with a nonzero epoch
//!   even when the ring is empty (then it records the object and copies nothing);
//! - a *flush* (at each `checksum`, `snap`, owned `snapshot` and before each full
//!   collection) hashes what was made (adding it to `S` and to the cache of member hashes
//!   by address) and rehashes what was written (swapping its old hash in `S` for the new
//!   one), then starts a new tick: a new journal epoch, so the next write of every object
//!   is seen again. A flush in the middle of a ring epoch makes the ring save an object a
//!   second time in the same log; a rollback applies a log newest entry first, so the
//!   oldest copy, the state at the snapshot, is what stays;
//! - a full collection sets `S` to the sum over what its logical mark counted (and what
//!   the finalizers it queued reach), and keeps only those in the cache; the cache entries
//!   it changes are saved in the ring's current log, so a rollback puts them back;
//! - `snap` saves `S` with the root state; a rollback restores it and rehashes the objects
//!   the logs put back (their cached hashes described their newer states).
//!
//! Cache entries are keyed by address; an entry whose object died stays (its hash is still
//! part of `S` until the next full collection) until a member made at the same address
//! replaces it. Dead objects are never written, so a written object's entry is its own.
//! The lists hold their objects strongly until the next flush (one frame of garbage in a
//! game that checksums every frame).

use gc_arena::{Collect, GcWeak};

use super::SnapshotError;
use crate::function::{LuaClosure, UpValue};
use crate::resumable::Resumable;
use crate::table::Table;
use crate::thread::Thread;
use crate::userdata::{UserData, UserDataInner};
use crate::value::Value;

/// A member object (see `checksum`).
#[derive(Clone, Copy, Collect)]
#[collect(no_drop)]
pub(crate) enum Member<'gc> {
    Table(Table<'gc>),
    Closure(LuaClosure<'gc>),
    UpValue(UpValue<'gc>),
    Thread(Thread<'gc>),
    UserData(UserData<'gc>),
    Resumable(Resumable<'gc>),
}

#[inline]
fn addr<T>(gc: gc_arena::Gc<'_, T>) -> usize {
    gc_arena::Gc::as_ptr(gc) as *const () as usize
}

impl<'gc> Member<'gc> {
    /// The member a value is, if it is one (host closures and threads are not).
    pub(crate) fn of_value(v: Value<'gc>) -> Option<Self> {
        match v {
            Value::Table(t) => Some(Member::Table(t)),
            Value::Function(f) if !crate::state::is_host_id(f.0.id) => Some(Member::Closure(f)),
            Value::Thread(t) if !crate::state::is_host_id(t.id()) => Some(Member::Thread(t)),
            Value::UserData(u) => Some(Member::UserData(u)),
            _ => None,
        }
    }

    /// The object's address (the cache's key).
    pub(crate) fn address(self) -> usize {
        match self {
            Member::Table(t) => addr(t.0),
            Member::Closure(c) => addr(c.0),
            Member::UpValue(u) => addr(u),
            Member::Thread(t) => addr(t.0),
            Member::UserData(u) => addr(u.0),
            Member::Resumable(r) => addr(r.0),
        }
    }
}

/// The member a journaled object is (the owner of a journaled state), if it is one.
pub(crate) trait AsMember<'gc> {
    fn member(self) -> Option<Member<'gc>>;
}

impl<'gc> AsMember<'gc> for Table<'gc> {
    fn member(self) -> Option<Member<'gc>> {
        Some(Member::Table(self))
    }
}

impl<'gc> AsMember<'gc> for Thread<'gc> {
    fn member(self) -> Option<Member<'gc>> {
        Member::of_value(Value::Thread(self))
    }
}

impl<'gc> AsMember<'gc> for UpValue<'gc> {
    fn member(self) -> Option<Member<'gc>> {
        Some(Member::UpValue(self))
    }
}

impl<'gc> AsMember<'gc> for UserData<'gc> {
    fn member(self) -> Option<Member<'gc>> {
        Some(Member::UserData(self))
    }
}

impl<'gc> AsMember<'gc> for Resumable<'gc> {
    fn member(self) -> Option<Member<'gc>> {
        Some(Member::Resumable(self))
    }
}

impl<'gc> AsMember<'gc> for crate::executor::Executor<'gc> {
    fn member(self) -> Option<Member<'gc>> {
        None
    }
}

type AddressHash = std::hash::BuildHasherDefault<lunette_gc_snapshot::AddressHasher>;

/// A VM's incremental checksum state (held by the journal; see the module docs).
#[derive(Collect)]
#[collect(no_drop)]
pub(crate) struct Tracker<'gc> {
    /// Members made this tick, and whether they join L (not when the host made them as
    /// part of its machinery: a chunk's upvalue made by `Lua::load`).
    made: Vec<(Member<'gc>, bool)>,
    /// Members first written this tick (a table can appear more than once).
    written: Vec<Member<'gc>>,
    /// Whether a typed userdata payload was first borrowed mutably this tick (payload cells
    /// do not know their userdata: every typed userdata of L is rehashed then).
    payload_written: bool,
    /// The typed userdata that were in L (weak; the dead ones pruned at full collections).
    typed: Vec<GcWeak<'gc, UserDataInner<'gc>>>,
    /// The hash of every member of L hashed so far, by address.
    #[collect(require_static)]
    cache: hashbrown::HashMap<usize, u64, AddressHash>,
    /// `S`.
    #[collect(require_static)]
    sum: u64,
}

/// Hashes live members (`capture::LiveHasher`).
pub(crate) trait HashMember<'gc> {
    fn hash(&mut self, m: Member<'gc>) -> Result<u64, SnapshotError>;
}

/// A cache entry a full collection changed: its address and its entry before (see
/// `Tracker::recount`).
pub(crate) type CacheEdit = (usize, Option<u64>);

impl<'gc> Tracker<'gc> {
    /// A tracker whose L is `members` (with their hashes) and whose `S` is `rest` plus
    /// their hashes.
    pub(crate) fn new(rest: u64, members: impl IntoIterator<Item = (Member<'gc>, u64)>) -> Self {
        let mut t = Tracker {
            made: Vec::new(),
            written: Vec::new(),
            payload_written: false,
            typed: Vec::new(),
            cache: Default::default(),
            sum: rest,
        };
        for (m, h) in members {
            if t.cache.insert(m.address(), h).is_none() {
                t.sum = t.sum.wrapping_add(h);
                t.note_typed(m);
            }
        }
        t
    }

    pub(crate) fn sum(&self) -> u64 {
        self.sum
    }

    /// The cached hash of the member at `address` (`None`: not in L).
    pub(crate) fn cached(&self, address: usize) -> Option<u64> {
        self.cache.get(&address).copied()
    }

    fn note_typed(&mut self, m: Member<'gc>) {
        if let Member::UserData(u) = m {
            if u.is_typed() {
                self.typed.push(gc_arena::Gc::downgrade(u.0));
            }
        }
    }

    pub(crate) fn made(&mut self, m: Member<'gc>, joins: bool) {
        self.made.push((m, joins));
    }

    pub(crate) fn written(&mut self, m: Member<'gc>) {
        self.written.push(m);
    }

    pub(crate) fn payload_written(&mut self) {
        self.payload_written = true;
    }

    /// Objects the lists keep alive (for `gc::ring_only_bytes`: they are neither the
    /// script's nor the ring's, and like the ring's they must not count against the limit).
    pub(crate) fn visit_held(&self, mut f: impl FnMut(Member<'gc>)) {
        for (m, _) in &self.made {
            f(*m);
        }
        for m in &self.written {
            f(*m);
        }
    }

    /// Hashes what was made and rehashes what was written this tick (see the module docs);
    /// the caller starts a new tick.
    pub(crate) fn flush(
        &mut self,
        mc: &gc_arena::Mutation<'gc>,
        hasher: &mut impl HashMember<'gc>,
    ) -> Result<(), SnapshotError> {
        let made = std::mem::take(&mut self.made);
        for (m, joins) in made {
            let a = m.address();
            if joins {
                let h = hasher.hash(m)?;
                // (An entry left at this address was a dead member's: its hash stays in S.)
                self.cache.insert(a, h);
                self.sum = self.sum.wrapping_add(h);
                self.note_typed(m);
            } else {
                self.cache.remove(&a);
            }
        }
        let mut written = std::mem::take(&mut self.written);
        if self.payload_written {
            self.payload_written = false;
            self.typed.retain(|w| w.upgrade(mc).is_some());
            written.extend(
                self.typed
                    .iter()
                    .filter_map(|w| w.upgrade(mc))
                    .map(|u| Member::UserData(UserData(u))),
            );
        }
        written.sort_unstable_by_key(|m| m.address());
        written.dedup_by_key(|m| m.address());
        for m in written {
            self.rehash(m, hasher, true)?;
        }
        Ok(())
    }

    /// Rehashes `m` if it is in L; `adjust`: swap its old hash in `S` for the new one.
    fn rehash(
        &mut self,
        m: Member<'gc>,
        hasher: &mut impl HashMember<'gc>,
        adjust: bool,
    ) -> Result<(), SnapshotError> {
        let a = m.address();
        if self.cache.contains_key(&a) {
            let h = hasher.hash(m)?;
            if let Some(old) = self.cache.insert(a, h) {
                if adjust {
                    self.sum = self.sum.wrapping_add(h).wrapping_sub(old);
                }
            }
        }
        Ok(())
    }

    /// After a full collection's logical mark (the tracker flushed before it): L becomes
    /// `members` (what the mark counted and what the queued finalizers reach), `S` their
    /// sum. Returns the cache entries changed, to save for a rollback.
    pub(crate) fn recount(
        &mut self,
        members: &[Member<'gc>],
        hasher: &mut impl HashMember<'gc>,
    ) -> Result<Vec<CacheEdit>, SnapshotError> {
        let mut edits = Vec::new();
        let mut cache: hashbrown::HashMap<usize, u64, AddressHash> =
            hashbrown::HashMap::with_capacity_and_hasher(members.len(), Default::default());
        let mut sum = 0u64;
        self.typed.retain(|w| !w.is_dropped());
        for &m in members {
            let a = m.address();
            if cache.contains_key(&a) {
                continue;
            }
            let h = match self.cache.remove(&a) {
                Some(h) => h,
                None => {
                    edits.push((a, None));
                    self.note_typed(m);
                    hasher.hash(m)?
                }
            };
            cache.insert(a, h);
            sum = sum.wrapping_add(h);
        }
        edits.extend(self.cache.drain().map(|(a, h)| (a, Some(h))));
        self.cache = cache;
        self.sum = sum;
        Ok(edits)
    }

    /// Rollback: the cache entries full collections changed since the target snapshot go
    /// back (`edits`, newest first), the objects the logs restored are rehashed, and `S` is
    /// the target's.
    pub(crate) fn roll_back(
        &mut self,
        edits: impl Iterator<Item = CacheEdit>,
        restored: &[Member<'gc>],
        payloads_restored: bool,
        sum: u64,
        mc: &gc_arena::Mutation<'gc>,
        hasher: &mut impl HashMember<'gc>,
    ) -> Result<(), SnapshotError> {
        self.made.clear();
        self.written.clear();
        self.payload_written = false;
        for (a, old) in edits {
            match old {
                Some(h) => self.cache.insert(a, h),
                None => self.cache.remove(&a),
            };
        }
        for m in restored {
            self.rehash(*m, hasher, false)?;
        }
        if payloads_restored {
            let typed: Vec<_> = self.typed.iter().filter_map(|w| w.upgrade(mc)).collect();
            for u in typed {
                self.rehash(Member::UserData(UserData(u)), hasher, false)?;
            }
        }
        self.sum = sum;
        Ok(())
    }
}
