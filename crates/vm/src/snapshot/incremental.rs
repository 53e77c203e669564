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
            Value::Table(t) if !crate::state::is_host_id(t.id()) => Some(Member::Table(t)),
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
        Member::of_value(Value::Table(self))
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
    /// Pages of big array parts stored into this tick, their table not saved whole.
    written_pages: Vec<(Table<'gc>, usize)>,
    /// Whether a typed userdata payload was first borrowed mutably this tick (payload cells
    /// do not know their userdata: every typed userdata of L is rehashed then).
    payload_written: bool,
    /// The typed userdata that were in L (weak; the dead ones pruned at full collections
    /// and when the list doubles).
    typed: Vec<GcWeak<'gc, UserDataInner<'gc>>>,
    #[collect(require_static)]
    typed_prune_at: usize,
    /// The hash of every member of L hashed so far, by address.
    #[collect(require_static)]
    cache: hashbrown::HashMap<usize, u64, AddressHash>,
    /// The page hashes of the tables of `cache` whose array part is hashed by pages, when
    /// known (a table without them is rehashed whole when a page changes).
    #[collect(require_static)]
    pages: hashbrown::HashMap<usize, Vec<u64>, AddressHash>,
    /// `S`.
    #[collect(require_static)]
    sum: u64,
}

/// Hashes live members (`capture::LiveHasher`).
pub(crate) trait HashMember<'gc> {
    /// `h(m)`, and for a table hashed by pages (`checksum::table_hash`) its page hashes.
    fn hash(&mut self, m: Member<'gc>) -> Result<(u64, Option<Vec<u64>>), SnapshotError>;
    /// The hash of page `page` of `t`'s array part (`None`: no such page).
    fn page(&mut self, t: Table<'gc>, page: usize) -> Option<u64>;
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
            written_pages: Vec::new(),
            payload_written: false,
            typed: Vec::new(),
            typed_prune_at: 64,
            cache: Default::default(),
            pages: Default::default(),
            sum: rest,
        };
        let members = members.into_iter();
        // (Room for all at once: a restore hands over thousands.)
        let (least, most) = members.size_hint();
        t.cache.reserve(most.unwrap_or(least));
        for (m, h) in members {
            if t.cache.insert(m.address(), h).is_none() {
                t.sum = t.sum.wrapping_add(h);
                t.note_typed(m);
            }
        }
        t
    }

    /// Objects the lists name (each held until the next flush).
    pub(crate) fn pending(&self) -> usize {
        self.made.len() + self.written.len() + self.written_pages.len()
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
                // The dead pruned when the list doubles: at most twice the live plus 64.
                if self.typed.len() >= self.typed_prune_at {
                    self.typed.retain(|w| !w.is_dropped());
                    self.typed_prune_at = self.typed.len().saturating_mul(2).max(64);
                }
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

    pub(crate) fn page_written(&mut self, t: Table<'gc>, page: usize) {
        self.written_pages.push((t, page));
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
        for (t, _) in &self.written_pages {
            f(Member::Table(*t));
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
                let (h, pages) = hasher.hash(m)?;
                // (An entry left at this address was a dead member's: its hash stays in S.)
                self.cache.insert(a, h);
                self.set_pages(a, pages);
                self.sum = self.sum.wrapping_add(h);
                self.note_typed(m);
            } else {
                self.cache.remove(&a);
                self.pages.remove(&a);
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
        for &m in &written {
            self.rehash(m, hasher, true)?;
        }
        let pages = std::mem::take(&mut self.written_pages);
        self.rehash_pages(pages, &written, hasher, true)
    }

    /// Rehashes the pages `pages` of tables not in `whole` (sorted by address, rehashed
    /// whole already): each page's hash is swapped in its table's (and, if `adjust`, in
    /// `S`).
    fn rehash_pages(
        &mut self,
        mut pages: Vec<(Table<'gc>, usize)>,
        whole: &[Member<'gc>],
        hasher: &mut impl HashMember<'gc>,
        adjust: bool,
    ) -> Result<(), SnapshotError> {
        pages.sort_unstable_by_key(|(t, p)| (addr(t.0), *p));
        pages.dedup_by_key(|(t, p)| (addr(t.0), *p));
        for (t, p) in pages {
            let a = addr(t.0);
            if whole.binary_search_by_key(&a, |m| m.address()).is_ok() {
                continue;
            }
            let Some(&old_total) = self.cache.get(&a) else {
                continue;
            };
            let old_page = self.pages.get(&a).and_then(|v| v.get(p)).copied();
            match (old_page, hasher.page(t, p)) {
                (Some(old), Some(new)) => {
                    let delta = new.wrapping_sub(old);
                    self.cache.insert(a, old_total.wrapping_add(delta));
                    if adjust {
                        self.sum = self.sum.wrapping_add(delta);
                    }
                    if let Some(slot) = self.pages.get_mut(&a).and_then(|v| v.get_mut(p)) {
                        *slot = new;
                    }
                }
                // Page hashes unknown (the table was hashed before tracking, or a rollback
                // put its entry back): the whole table.
                _ => self.rehash(Member::Table(t), hasher, adjust)?,
            }
        }
        Ok(())
    }

    fn set_pages(&mut self, a: usize, pages: Option<Vec<u64>>) {
        match pages {
            Some(p) => {
                self.pages.insert(a, p);
            }
            None => {
                self.pages.remove(&a);
            }
        }
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
            let (h, pages) = hasher.hash(m)?;
            self.set_pages(a, pages);
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
                    let (h, pages) = hasher.hash(m)?;
                    self.set_pages(a, pages);
                    h
                }
            };
            cache.insert(a, h);
            sum = sum.wrapping_add(h);
        }
        edits.extend(self.cache.drain().map(|(a, h)| (a, Some(h))));
        self.pages.retain(|a, _| cache.contains_key(a));
        self.cache = cache;
        self.sum = sum;
        Ok(edits)
    }

    /// Rollback: the cache entries full collections changed since the target snapshot go
    /// back (`edits`, newest first), the objects the logs restored are rehashed, and `S` is
    /// the target's.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn roll_back(
        &mut self,
        edits: impl Iterator<Item = CacheEdit>,
        mut restored: Vec<Member<'gc>>,
        restored_pages: Vec<(Table<'gc>, usize)>,
        payloads_restored: bool,
        sum: u64,
        mc: &gc_arena::Mutation<'gc>,
        hasher: &mut impl HashMember<'gc>,
    ) -> Result<(), SnapshotError> {
        self.made.clear();
        self.written.clear();
        self.written_pages.clear();
        self.payload_written = false;
        for (a, old) in edits {
            // (Page hashes are not kept for a rollback: such a table is rehashed whole.)
            self.pages.remove(&a);
            match old {
                Some(h) => self.cache.insert(a, h),
                None => self.cache.remove(&a),
            };
        }
        restored.sort_unstable_by_key(|m| m.address());
        restored.dedup_by_key(|m| m.address());
        for &m in &restored {
            self.rehash(m, hasher, false)?;
        }
        self.rehash_pages(restored_pages, &restored, hasher, false)?;
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
