//! Host handles (`StashedValue`, `StashedExecutor`): values the host keeps between `Lua::enter`
//! calls, which survive snapshot restores.
//!
//! A handle is rooted in the arena (a gc-arena `DynamicRoot`) and also remembers *what* it
//! points to in arena-independent terms: the object's stable id (or, for strings and numbers,
//! the value itself) plus the timeline it was taken in. When a snapshot is restored the arena
//! is rebuilt, and every live handle is re-rooted in the new arena:
//! - a handle that existed when the snapshot was taken gets the restored copy of its object;
//! - otherwise, if its object existed at the snapshot's point in history, it gets that object
//!   (found by id);
//! - otherwise (the object was created after the snapshot, or on a timeline that was rolled
//!   away) the handle becomes *stale*: fetching it returns `StaleHandle`, forever after.
//!
//! Script ids are not unique across timelines (the id counter rolls back with the VM), so
//! "existed at the snapshot's point" is decided with `History`: each restore starts a new timeline that
//! forks from the snapshot's timeline at the snapshot's id counter; an id means the same object
//! in two timelines iff both resolve it to the same creating timeline. Host objects (executors'
//! main threads, chunks the host loads: `state::HOST_ID_BIT`) take their ids from a counter
//! that never goes back in a VM's life (`HandleRegistry::next_host_id`), so a host id names
//! one object in every timeline.

use std::cell::RefCell;
use std::rc::{Rc, Weak};
use std::sync::Arc;

use gc_arena::{DynamicRoot, Gc, Mutation, Rootable};

use crate::executor::Executor;
use crate::snapshot::Image;
use crate::state::State;
use crate::string::{LuaString, MAX_INTERNED_LEN};
use crate::value::Value;

/// Fetching a handle whose object does not exist in the VM's current state (it was created
/// after the snapshot that was restored, or the handle belongs to another VM).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("stale handle: its object does not exist in the restored state")]
pub struct StaleHandle;

/// A value that needs no object identity to be recreated.
#[derive(Clone)]
pub(crate) enum PlainValue {
    Nil,
    Boolean(bool),
    Integer(i64),
    Float(f64),
    String(u64, Arc<[u8]>),
}

#[derive(Clone)]
pub(crate) enum HandleTarget {
    /// A table, function, thread or userdata with this stable id (executors: the id of their
    /// main thread).
    Object(u64),
    Plain(PlainValue),
}

pub(crate) struct HandleKey {
    /// Unique among this VM's handles (in creation order).
    pub(crate) serial: u64,
    /// The timeline the handle was taken in.
    pub(crate) timeline: u64,
    pub(crate) target: HandleTarget,
}

pub(crate) type ValueRoot = DynamicRoot<Rootable![Value<'_>]>;
pub(crate) type ExecutorRoot = DynamicRoot<Rootable![Executor<'_>]>;

pub(crate) struct Slot<R> {
    pub(crate) key: HandleKey,
    /// `None` once stale.
    pub(crate) root: RefCell<Option<R>>,
}

/// A handle to a value that outlives `Lua::enter` (and survives restores, see the module docs).
#[derive(Clone)]
pub struct StashedValue(pub(crate) Rc<Slot<ValueRoot>>);

/// A handle to an executor that outlives `Lua::enter`.
#[derive(Clone)]
pub struct StashedExecutor(pub(crate) Rc<Slot<ExecutorRoot>>);

impl StashedValue {
    /// Whether the handle lost its object in a restore.
    pub fn is_stale(&self) -> bool {
        self.0.root.borrow().is_none()
    }
}

impl StashedExecutor {
    /// Whether the handle lost its executor in a restore.
    pub fn is_stale(&self) -> bool {
        self.0.root.borrow().is_none()
    }

    /// The executor's stable id (its main thread's host id): the same in every VM that
    /// restores a snapshot holding it, so a host can find a paused executor again after
    /// restoring into a fresh VM ([`Lua::restored_executor`](crate::Lua::restored_executor)).
    pub fn id(&self) -> u64 {
        match self.0.key.target {
            HandleTarget::Object(id) => id,
            HandleTarget::Plain(_) => 0,
        }
    }
}

/// What a handle's slot roots in the arena of `roots`; `StaleHandle` if the slot lost its
/// object or belongs to another arena (another VM, or this one before a restore).
pub(crate) fn fetch_root<'gc, R: for<'r> Rootable<'r>>(
    roots: gc_arena::DynamicRootSet<'gc>,
    slot: &Slot<DynamicRoot<R>>,
) -> Result<gc_arena::Gc<'gc, gc_arena::arena::Root<'gc, R>>, StaleHandle> {
    let root = slot.root.borrow();
    roots
        .try_fetch(root.as_ref().ok_or(StaleHandle)?)
        .map_err(|_| StaleHandle)
}

/// What the VM's live, non-stale handles root, with their serials, oldest first (the roots of
/// snapshot walks and of the logical mark).
pub(crate) struct HandleRoots<'gc> {
    pub(crate) values: Vec<(u64, Value<'gc>)>,
    pub(crate) executors: Vec<(u64, Executor<'gc>)>,
}

pub(crate) fn handle_roots<'gc>(state: &crate::state::State<'gc>) -> HandleRoots<'gc> {
    let reg = state.handles.borrow();
    let values = reg
        .live_values()
        .iter()
        .filter_map(|slot| {
            let gc = fetch_root(state.roots, slot).ok()?;
            Some((slot.key.serial, *gc_arena::Gc::as_ref(gc)))
        })
        .collect();
    let executors = reg
        .live_executors()
        .iter()
        .filter_map(|slot| {
            let gc = fetch_root(state.roots, slot).ok()?;
            Some((slot.key.serial, *gc_arena::Gc::as_ref(gc)))
        })
        .collect();
    HandleRoots { values, executors }
}

/// The timelines of one VM (see the module docs).
pub(crate) struct History {
    /// `forks[t] = (parent, fork_id)`: timeline `t` began by restoring a snapshot taken on
    /// `parent` when the id counter was `fork_id`. Timeline 0 is the VM's first.
    forks: Vec<(u64, u64)>,
    pub(crate) current: u64,
}

/// Parent of a timeline that began from another VM's snapshot: no ancestry is shared.
const FOREIGN: u64 = u64::MAX;

impl History {
    fn new() -> Self {
        History {
            forks: vec![(0, 0)],
            current: 0,
        }
    }

    /// Starts a new timeline after restoring a snapshot taken on `parent` (`None`: another
    /// VM's snapshot) when the id counter was `fork_id`.
    pub(crate) fn fork(&mut self, parent: Option<u64>, fork_id: u64) {
        self.forks.push((parent.unwrap_or(FOREIGN), fork_id));
        self.current = self.forks.len() as u64 - 1;
    }

    /// The timeline in which the object with id `id`, as seen from `timeline`, was created;
    /// `None` if that is outside this VM's history.
    fn creator(&self, mut timeline: u64, id: u64) -> Option<u64> {
        loop {
            if timeline == 0 {
                return Some(0);
            }
            let (parent, fork_id) = *self.forks.get(timeline as usize)?;
            if id >= fork_id {
                return Some(timeline);
            }
            if parent == FOREIGN {
                return None;
            }
            timeline = parent;
        }
    }

    /// Whether script id `id` seen from `a` and seen from `b` is the same object. (Host ids
    /// are never reused: the same host id is the same object in every timeline of a VM.)
    pub(crate) fn same_object(&self, a: u64, b: u64, id: u64) -> bool {
        match (self.creator(a, id), self.creator(b, id)) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        }
    }
}

/// What a VM keeps outside its arena and carries over restores: the live handles and the
/// history of timelines.
pub(crate) struct HandleRegistry {
    /// Identifies the VM (snapshots from another VM resolve no handle by id).
    pub(crate) instance: u64,
    next_serial: u64,
    /// The next id of a host object (see `state::HOST_ID_BIT`): never reused in this VM's
    /// life, across rollbacks and restores (a restore raises it past the image's).
    pub(crate) next_host_id: u64,
    pub(crate) values: Vec<Weak<Slot<ValueRoot>>>,
    pub(crate) executors: Vec<Weak<Slot<ExecutorRoot>>>,
    pub(crate) history: History,
    /// Executors of the last restored image that no live handle claimed, until the host
    /// takes them (`Lua::restored_executor`); emptied by every restore.
    pub(crate) restored: Vec<StashedExecutor>,
}

static NEXT_INSTANCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl HandleRegistry {
    pub(crate) fn new() -> Self {
        HandleRegistry {
            instance: NEXT_INSTANCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            next_serial: 0,
            next_host_id: crate::state::HOST_ID_BIT | 1,
            values: Vec::new(),
            executors: Vec::new(),
            history: History::new(),
            restored: Vec::new(),
        }
    }

    pub(crate) fn key(&mut self, target: HandleTarget) -> HandleKey {
        let serial = self.next_serial;
        self.next_serial += 1;
        HandleKey {
            serial,
            timeline: self.history.current,
            target,
        }
    }

    pub(crate) fn register_value(&mut self, slot: &Rc<Slot<ValueRoot>>) {
        if self.values.len() == self.values.capacity() {
            self.values.retain(|w| w.strong_count() > 0);
            self.values.reserve(self.values.len().max(16));
        }
        self.values.push(Rc::downgrade(slot));
    }

    pub(crate) fn register_executor(&mut self, slot: &Rc<Slot<ExecutorRoot>>) {
        if self.executors.len() == self.executors.capacity() {
            self.executors.retain(|w| w.strong_count() > 0);
            self.executors.reserve(self.executors.len().max(16));
        }
        self.executors.push(Rc::downgrade(slot));
    }

    /// A fresh host object id.
    pub(crate) fn host_id(&mut self) -> u64 {
        let id = self.next_host_id;
        self.next_host_id += 1;
        id
    }

    /// After an in-place rollback to the point where the id counters were `next_id` (script
    /// objects) and `next_host_id` (host objects): handles to objects created since become
    /// stale, and the timeline forks (script ids from `next_id` on will name other objects;
    /// host ids are never reused).
    pub(crate) fn rolled_back_to(&mut self, next_id: u64, next_host_id: u64) {
        let created_after = |target: &HandleTarget| match target {
            HandleTarget::Object(id) if crate::state::is_host_id(*id) => *id >= next_host_id,
            HandleTarget::Object(id) => *id >= next_id,
            HandleTarget::Plain(_) => false,
        };
        for slot in self.live_values() {
            if created_after(&slot.key.target) {
                *slot.root.borrow_mut() = None;
            }
        }
        for slot in self.live_executors() {
            if created_after(&slot.key.target) {
                *slot.root.borrow_mut() = None;
            }
        }
        let current = self.history.current;
        self.history.fork(Some(current), next_id);
    }

    /// Live value handles, oldest first.
    pub(crate) fn live_values(&self) -> Vec<Rc<Slot<ValueRoot>>> {
        self.values.iter().filter_map(Weak::upgrade).collect()
    }

    pub(crate) fn live_executors(&self) -> Vec<Rc<Slot<ExecutorRoot>>> {
        self.executors.iter().filter_map(Weak::upgrade).collect()
    }
}

/// Re-roots every live host handle in the new arena (see `handle` for the rules).
pub(crate) fn reroot_handles<'gc>(
    mc: &Mutation<'gc>,
    state: &State<'gc>,
    image: &Image,
    rb: &crate::snapshot::Rebuild<'gc, '_>,
    handles: &RefCell<HandleRegistry>,
) {
    let reg = handles.borrow();
    let same_vm = reg.instance == image.instance;
    // Objects by id, built only if some handle needs a lookup by id.
    let mut by_id: Option<hashbrown::HashMap<u64, u32>> = None;
    let mut lookup = |reg: &HandleRegistry, timeline: u64, id: u64| -> Option<u32> {
        // A host id names one object in the VM's whole life; a script id must be checked
        // against the timelines.
        let same_object = if crate::state::is_host_id(id) {
            id < image.next_host_id
        } else {
            id < image.next_id && reg.history.same_object(timeline, image.timeline, id)
        };
        if !same_vm || !same_object {
            return None;
        }
        let map = by_id.get_or_insert_with(|| {
            image
                .objects
                .iter()
                .enumerate()
                .filter_map(|(i, o)| crate::snapshot::object_id(o).map(|id| (id, i as u32)))
                .collect()
        });
        map.get(&id).copied()
    };
    for slot in reg.live_values() {
        let mut root = slot.root.borrow_mut();
        if root.is_none() {
            continue; // stale stays stale
        }
        let from_image = if same_vm {
            image
                .value_handles
                .binary_search_by_key(&slot.key.serial, |(s, _)| *s)
                .ok()
                .map(|i| image.value_handles[i].1)
        } else {
            None
        };
        let value = match (from_image, &slot.key.target) {
            (Some(v), _) => rb.val(v).ok(),
            (None, HandleTarget::Plain(p)) => Some(match p {
                PlainValue::Nil => Value::Nil,
                PlainValue::Boolean(b) => Value::Boolean(*b),
                PlainValue::Integer(i) => Value::Integer(*i),
                PlainValue::Float(f) => Value::Float(*f),
                PlainValue::String(hash, bytes) => {
                    Value::String(if bytes.len() <= MAX_INTERNED_LEN {
                        state.strings.borrow_mut(mc).intern(mc, bytes)
                    } else {
                        LuaString::from_shared(mc, *hash, bytes.clone())
                    })
                }
            }),
            (None, HandleTarget::Object(id)) => lookup(&reg, slot.key.timeline, *id)
                .and_then(|i| rb.val(crate::snapshot::Val::Obj(i)).ok()),
        };
        *root = value.map(|v| {
            state
                .roots
                .stash::<gc_arena::Rootable![Value<'_>]>(mc, Gc::new(mc, v))
        });
    }
    for slot in reg.live_executors() {
        let mut root = slot.root.borrow_mut();
        if root.is_none() {
            continue;
        }
        let index = if same_vm {
            image
                .executor_handles
                .binary_search_by_key(&slot.key.serial, |(s, _)| *s)
                .ok()
                .map(|i| image.executor_handles[i].1)
        } else {
            None
        };
        let index = index.or_else(|| match slot.key.target {
            HandleTarget::Object(id) => {
                // An executor is found through its main thread's id.
                let t = lookup(&reg, slot.key.timeline, id)?;
                image
                    .objects
                    .iter()
                    .position(|o| match o {
                        crate::snapshot::Obj::Executor(e) => e.threads.first() == Some(&t),
                        _ => false,
                    })
                    .map(|i| i as u32)
            }
            HandleTarget::Plain(_) => None,
        });
        *root = match index.and_then(|i| rb.built.get(i as usize).copied()) {
            Some(crate::snapshot::Built::Executor(e)) => Some(
                state
                    .roots
                    .stash::<gc_arena::Rootable![Executor<'_>]>(mc, Gc::new(mc, e)),
            ),
            _ => None,
        };
    }
    // Executors another VM's image held handles to: kept for `Lua::restored_executor`, so a
    // frame paused mid-step can move to another VM. (In the VM that took the snapshot, an
    // executor no live handle claims was dropped by the host: it stays unreachable.)
    let claimed: Vec<u32> = reg
        .live_executors()
        .iter()
        .filter_map(|slot| {
            let gc = crate::handle::fetch_root(state.roots, slot).ok()?;
            let e = *Gc::as_ref(gc);
            image
                .executor_handles
                .iter()
                .find(|(_, i)| matches!(rb.built.get(*i as usize), Some(crate::snapshot::Built::Executor(b)) if Gc::ptr_eq(b.0, e.0)))
                .map(|(_, i)| *i)
        })
        .collect();
    drop(reg);
    let mut reg = handles.borrow_mut();
    reg.restored.clear();
    for (_, i) in &image.executor_handles {
        if same_vm || claimed.contains(i) {
            continue;
        }
        if let Some(crate::snapshot::Built::Executor(e)) = rb.built.get(*i as usize).copied() {
            let root = state
                .roots
                .stash::<gc_arena::Rootable![Executor<'_>]>(mc, Gc::new(mc, e));
            let key = reg.key(HandleTarget::Object(e.main_thread().id()));
            let slot = std::rc::Rc::new(crate::handle::Slot {
                key,
                root: RefCell::new(Some(root)),
            });
            reg.register_executor(&slot);
            reg.restored.push(crate::handle::StashedExecutor(slot));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_tells_objects_apart_across_timelines() {
        let mut h = History::new();
        // Timeline 0 made ids 1..100; a snapshot at id counter 50 is restored: timeline 1.
        h.fork(Some(0), 50);
        assert_eq!(h.current, 1);
        // Id 10 predates the fork: the same object in both timelines.
        assert!(h.same_object(0, 1, 10));
        // Id 70 exists in both but was created separately on each: different objects.
        assert!(!h.same_object(0, 1, 70));
        // Restoring a snapshot of timeline 1 taken at counter 80 gives timeline 2.
        h.fork(Some(1), 80);
        assert!(h.same_object(1, 2, 70));
        assert!(h.same_object(0, 2, 10));
        assert!(!h.same_object(0, 2, 70));
        // A foreign snapshot shares nothing below its counter.
        h.fork(None, 30);
        assert!(!h.same_object(3, 0, 10));
        assert!(h.same_object(3, 3, 40));
    }
}
