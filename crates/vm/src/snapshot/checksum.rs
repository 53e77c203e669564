//! The checksum: a stable hash (`gc_snapshot::StableHasher`, the same on every machine) of
//! the root state and of every object of L, the objects a script's history accounts for.
//!
//! **Definition.** `C = H(root state, S)` where `S` is the wrapping sum, over the *members*
//! of L, of each member's hash `h(o)`:
//! - members are the script's mutable objects: tables, Lua closures and threads (not the
//!   host's: `state::HOST_ID_BIT`), upvalues, userdata and resumable builtin states;
//!   prototypes, callbacks and strings are immutable and enter through the objects that
//!   refer to them; executors are host machinery;
//! - L is the members made since the last full collection plus those its logical mark
//!   counted (and what the finalizers it queued reach): a function of the script's history,
//!   so two VMs with the same history agree, whatever the host held, snapped or rolled back.
//!   Right after a full collection L is exactly what the script reaches;
//! - `h(o)` hashes the object's kind and contents, references by identity ([`Ident`]: an
//!   object's id, a string's content hash, a prototype's digest; host objects, upvalues and
//!   executors by kind only), never by address or image index.
//!
//! A sum of per-object hashes can be kept up to date object by object: `incremental` hashes
//! the members made or written since the last checksum and swaps their old hashes for the
//! new ones, so a checksum costs what changed. An image carries what of `S` its objects do
//! not account for (`Image::tracking`), so a VM restored from it goes on with the same
//! values; the checksum of an image made without tracking sums the members the root
//! reaches, which is also where a VM's first `Lua::checksum` starts.

use lunette_gc_snapshot::StableHasher;

use super::image::{FrameImg, Image, Obj, OutcomeImg, ThenImg, UserDataImg, Val};
use crate::thread::Returns;

/// How a reference is hashed: its kind and a word (an id, a digest, or 0).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Ident(pub(crate) u64, pub(crate) u64);

impl Ident {
    pub(crate) const TABLE: u64 = 1;
    pub(crate) const CLOSURE: u64 = 2;
    pub(crate) const CALLBACK: u64 = 3;
    pub(crate) const THREAD: u64 = 4;
    pub(crate) const USERDATA: u64 = 5;
    pub(crate) const UPVALUE: u64 = 6;
    pub(crate) const PROTO: u64 = 7;
    pub(crate) const EXECUTOR: u64 = 8;
    pub(crate) const RESUMABLE: u64 = 9;
    /// Any host object (its id is the host's, and its script id may be given later: neither
    /// may change the hashes of the objects that refer to it).
    pub(crate) const HOST: Ident = Ident(10, 0);

    /// An object with an id of kind `kind` (host ids as [`Ident::HOST`]).
    pub(crate) fn with_id(kind: u64, id: u64) -> Ident {
        if crate::state::is_host_id(id) {
            Ident::HOST
        } else {
            Ident(kind, id)
        }
    }
}

/// Resolves the indices of an encoded object (an image's, or a capture's) to identities.
pub(crate) trait Identities {
    /// The content hash of string `i`.
    fn string(&self, i: u32) -> u64;
    /// The identity of object `i`.
    fn object(&self, i: u32) -> Ident;
}

/// The digest a prototype is referred to by: its position in its chunk and its size, and
/// the start of its chunk's name (a chunk's name may be its whole source text).
pub(crate) fn proto_digest(p: &lunette_compiler::Prototype) -> u64 {
    let mut h = StableHasher::new();
    let source = p.source.as_bytes();
    h.bytes(&source[..source.len().min(64)]);
    h.word(source.len() as u64);
    h.word(p.line_defined as u64);
    h.word(p.last_line_defined as u64);
    h.word(p.num_params as u64);
    h.word(p.code.len() as u64);
    h.finish()
}

/// The identity of an image object.
pub(crate) fn identity(o: &Obj) -> Ident {
    match o {
        Obj::Table { id, .. } => Ident::with_id(Ident::TABLE, *id),
        Obj::Closure { id, .. } => Ident::with_id(Ident::CLOSURE, *id),
        Obj::Callback(c) => Ident::with_id(Ident::CALLBACK, c.id),
        Obj::Thread(t) => Ident::with_id(Ident::THREAD, t.id),
        Obj::UserData(u) => Ident::with_id(Ident::USERDATA, u.id),
        Obj::UpValueOpen { .. } | Obj::UpValueClosed(_) => Ident(Ident::UPVALUE, 0),
        Obj::Proto { proto, .. } => Ident(Ident::PROTO, proto_digest(proto)),
        Obj::Executor(_) => Ident(Ident::EXECUTOR, 0),
        Obj::Resumable(r) => Ident(Ident::RESUMABLE, resumable_key(r.key)),
    }
}

/// The word of a resumable state's identity: its reader's key.
pub(crate) fn resumable_key(key: (&str, &str)) -> u64 {
    let mut h = StableHasher::new();
    h.bytes(key.0.as_bytes());
    h.bytes(key.1.as_bytes());
    h.finish()
}

/// Whether an image object is a member kind (see the module docs).
pub(crate) fn is_member(o: &Obj) -> bool {
    match o {
        Obj::Table { id, .. } => !crate::state::is_host_id(*id),
        Obj::UpValueOpen { .. } | Obj::UpValueClosed(_) | Obj::UserData(_) | Obj::Resumable(_) => {
            true
        }
        Obj::Closure { id, .. } => !crate::state::is_host_id(*id),
        Obj::Thread(t) => !crate::state::is_host_id(t.id),
        Obj::Callback(_) | Obj::Proto { .. } | Obj::Executor(_) => false,
    }
}

/// The root state the checksum hashes beside `S`, with identities.
pub(crate) struct RootState<'a> {
    pub(crate) next_id: u64,
    pub(crate) globals: Ident,
    pub(crate) registry: Ident,
    pub(crate) main_thread: Ident,
    pub(crate) string_metatable: Option<Ident>,
    pub(crate) type_metatables: &'a [Option<Ident>],
    pub(crate) finalizable: &'a [Val],
    pub(crate) pending_finalizers: &'a [Val],
    pub(crate) finalizing: Val,
    pub(crate) full_collection_requested: bool,
    pub(crate) collection_wait: usize,
    pub(crate) pacing: crate::memory::CollectorPacing,
}

impl RootState<'_> {
    /// The checksum of the root state (its values resolved by `ids`) and `sum` (`S`).
    pub(crate) fn checksum(&self, ids: &impl Identities, sum: u64) -> u64 {
        let mut h = StableHasher::new();
        h.word(self.next_id);
        h.word(sum);
        for r in [self.globals, self.registry, self.main_thread] {
            hash_ident(&mut h, r);
        }
        for mt in std::iter::once(&self.string_metatable).chain(self.type_metatables) {
            match mt {
                Some(t) => hash_ident(&mut h, *t),
                None => h.word(u64::MAX),
            }
        }
        hash_vals(&mut h, self.finalizable, ids);
        hash_vals(&mut h, self.pending_finalizers, ids);
        hash_val(&mut h, self.finalizing, ids);
        h.word(self.full_collection_requested as u64);
        // (How long the executors still wait for a collection decides where they go on.)
        h.word(self.collection_wait as u64);
        // The collector's schedule decides when weak entries clear and finalizers run.
        let p = self.pacing;
        h.word(if p.threshold == usize::MAX {
            u64::MAX
        } else {
            p.threshold as u64
        });
        h.word(p.pause as u64);
        h.word(p.running as u64);
        h.finish()
    }
}

/// An image's indices resolved against its own objects and strings.
struct ImageIds<'a>(&'a Image);

impl Identities for ImageIds<'_> {
    fn string(&self, i: u32) -> u64 {
        self.0.strings.get(i as usize).map_or(0, |(hash, _)| *hash)
    }
    fn object(&self, i: u32) -> Ident {
        self.0.objects.get(i as usize).map_or(Ident(0, 0), identity)
    }
}

impl Image {
    /// The members `S` sums for this image, with their hashes: with tracking, every member
    /// object but the `outside` ones; without, the members the root reaches. Computed once
    /// (`Image::member_hash_cache`).
    pub(crate) fn member_hashes(&self) -> &[(u32, u64)] {
        self.member_hash_cache
            .get_or_init(|| self.compute_member_hashes().into_boxed_slice())
    }

    /// `member_hashes`, computed from the image.
    pub(crate) fn compute_member_hashes(&self) -> Vec<(u32, u64)> {
        let ids = ImageIds(self);
        let (count, outside): (usize, &[u32]) = match &self.tracking {
            Some(t) => (self.objects.len(), &t.outside),
            None => (self.root_counts.0, &[]),
        };
        let mut outside = outside.iter().peekable();
        let mut out = Vec::new();
        for (i, o) in self.objects.iter().enumerate().take(count) {
            if outside.next_if(|&&x| x as usize == i).is_some() || !is_member(o) {
                continue;
            }
            out.push((i as u32, member_hash(o, &self.slots, 0, &ids)));
        }
        out
    }

    /// See `Snapshot::checksum`: the checksum the captured VM gave (`Lua::checksum`) when
    /// it was taken, or, for an image of a VM that never computed one, the checksum over
    /// the members the root reaches.
    pub(crate) fn checksum(&self) -> u64 {
        let ids = ImageIds(self);
        let rest = self.tracking.as_ref().map_or(0, |t| t.rest);
        let sum = self
            .member_hashes()
            .iter()
            .fold(rest, |s, (_, h)| s.wrapping_add(*h));
        let obj = |i: u32| ids.object(i);
        let type_metatables = self.type_metatables.map(|m| m.map(obj));
        RootState {
            next_id: self.next_id,
            globals: obj(self.globals),
            registry: obj(self.registry),
            main_thread: obj(self.main_thread),
            string_metatable: self.string_metatable.map(obj),
            type_metatables: &type_metatables,
            finalizable: &self.finalizable,
            pending_finalizers: &self.pending_finalizers,
            finalizing: self.finalizing,
            full_collection_requested: self.full_collection_requested,
            collection_wait: self.collection_wait,
            pacing: self.pacing,
        }
        .checksum(&ids, sum)
    }
}

fn hash_ident(h: &mut StableHasher, r: Ident) {
    h.word(16 + r.0);
    h.word(r.1);
}

/// Hashes `v`, its references resolved by `ids`.
pub(crate) fn hash_val(h: &mut StableHasher, v: Val, ids: &impl Identities) {
    match v {
        Val::Nil => h.word(0),
        Val::Boolean(b) => h.word(1 + b as u64),
        Val::Integer(i) => {
            h.word(3);
            h.word(i as u64);
        }
        Val::Float(f) => {
            h.word(4);
            h.word(f.to_bits());
        }
        Val::Str(i) => {
            h.word(5);
            h.word(ids.string(i));
        }
        Val::Obj(i) => hash_ident(h, ids.object(i)),
    }
}

fn hash_vals(h: &mut StableHasher, vs: &[Val], ids: &impl Identities) {
    h.word(vs.len() as u64);
    for v in vs {
        hash_val(h, *v, ids);
    }
}

fn hash_then(h: &mut StableHasher, t: &ThenImg, ids: &impl Identities) {
    h.bytes(t.name.as_bytes());
    hash_val(h, t.state, ids);
    h.word(t.catch_errors as u64);
    hash_val(h, t.handler, ids);
}

fn hash_returns(h: &mut StableHasher, r: Returns) {
    h.word(match r {
        Returns::Count(n) => n as u64,
        Returns::Multi => 1000,
        Returns::Meta => 1001,
        Returns::Discard => 1002,
    });
}

/// A table's array part of at least this many slots is hashed by pages of
/// [`ARRAY_PAGE`](crate::journal::ARRAY_PAGE) slots, like the journal saves it: a store into
/// one slot rehashes its page, not the array.
pub(crate) const PAGED_HASH_MIN: usize = crate::journal::PAGED_ARRAY_MIN;

/// What a table's hash covers besides its slots.
pub(crate) struct TableHeader {
    pub(crate) id: u64,
    pub(crate) flags: u8,
    pub(crate) tombstones: usize,
    pub(crate) metatable: Option<Ident>,
}

/// `h(table)`: the hash of its header, hash part and array length, plus (wrapping) the hash
/// of each page of a big array part ([`page_hash`]; `pages` receives them), or, for a
/// smaller array, with its values inline.
pub(crate) fn table_hash(
    header: TableHeader,
    array: &[Val],
    entries: &[Val],
    ids: &impl Identities,
    pages: Option<&mut Vec<u64>>,
) -> u64 {
    let mut h = StableHasher::new();
    h.word(10);
    h.word(header.id);
    h.word(header.flags as u64);
    let paged = array.len() >= PAGED_HASH_MIN;
    if paged {
        h.word(array.len() as u64);
    } else {
        hash_vals(&mut h, array, ids);
    }
    hash_vals(&mut h, entries, ids);
    h.word(header.tombstones as u64);
    match header.metatable {
        Some(m) => hash_ident(&mut h, m),
        None => h.word(u64::MAX),
    }
    let mut total = h.finish();
    if paged {
        let mut out = pages;
        for (p, page) in array.chunks(crate::journal::ARRAY_PAGE).enumerate() {
            let ph = page_hash(header.id, p, page.len(), |h, k| hash_val(h, page[k], ids));
            total = total.wrapping_add(ph);
            if let Some(out) = out.as_deref_mut() {
                out.push(ph);
            }
        }
    }
    total
}

/// The hash of page `page` (`n` slots, hashed by `slot`) of the array part of table `id`.
pub(crate) fn page_hash(
    id: u64,
    page: usize,
    n: usize,
    mut slot: impl FnMut(&mut StableHasher, usize),
) -> u64 {
    let mut h = StableHasher::new();
    h.word(20);
    h.word(id);
    h.word(page as u64);
    for k in 0..n {
        slot(&mut h, k);
    }
    h.finish()
}

/// Resolves one string (`Val::Str(0)`) or object (`Val::Obj(0)`): for hashing a live value.
pub(crate) struct OneRef {
    pub(crate) string: u64,
    pub(crate) object: Ident,
}

impl Identities for OneRef {
    fn string(&self, _: u32) -> u64 {
        self.string
    }
    fn object(&self, _: u32) -> Ident {
        self.object
    }
}

/// `h(o)` of a member (see the module docs; other kinds hash to 0). A table's slots are
/// `slots[start - base..]` of its ranges.
pub(crate) fn member_hash(o: &Obj, slots: &[Val], base: usize, ids: &impl Identities) -> u64 {
    member_hash_pages(o, slots, base, ids, None)
}

/// `member_hash`, the page hashes of a table hashed by pages going to `pages`.
pub(crate) fn member_hash_pages(
    o: &Obj,
    slots: &[Val],
    base: usize,
    ids: &impl Identities,
    pages: Option<&mut Vec<u64>>,
) -> u64 {
    let mut h = StableHasher::new();
    let h = &mut h;
    let obj = |i: u32| ids.object(i);
    let range = |start: u32, len: u32, width: usize| {
        let start = (start as usize).wrapping_sub(base);
        slots
            .get(start..start.saturating_add(len as usize * width))
            .unwrap_or(&[])
    };
    match o {
        Obj::Resumable(r) => {
            h.word(19);
            h.bytes(r.key.0.as_bytes());
            h.bytes(r.key.1.as_bytes());
            hash_vals(h, &r.fields, ids);
        }
        Obj::Table {
            id,
            flags,
            array,
            entries,
            tombstones,
            metatable,
            ..
        } => {
            return table_hash(
                TableHeader {
                    id: *id,
                    flags: *flags,
                    tombstones: *tombstones as usize,
                    metatable: metatable.map(obj),
                },
                range(array.start, array.len, 1),
                range(entries.start, entries.len, 2),
                ids,
                pages,
            )
        }
        Obj::Closure {
            id,
            script_id,
            proto,
            upvalues,
        } => {
            // (A host closure is no member: its script id is not hashed.)
            let _ = script_id;
            h.word(12);
            h.word(*id);
            hash_ident(h, obj(*proto));
            h.word(upvalues.len() as u64);
        }
        Obj::UpValueOpen { thread, slot } => {
            h.word(13);
            hash_ident(h, obj(*thread));
            h.word(*slot as u64);
        }
        Obj::UpValueClosed(v) => {
            h.word(14);
            hash_val(h, *v, ids);
        }
        Obj::Thread(t) => {
            h.word(16);
            h.word(t.id);
            hash_vals(h, &t.stack, ids);
            h.word(t.frames.len() as u64);
            for f in t.frames.iter() {
                match f {
                    FrameImg::Lua { closure, frame } => {
                        hash_ident(h, obj(*closure));
                        for w in [
                            frame.func,
                            frame.base,
                            frame.stack_end,
                            frame.pc,
                            frame.num_varargs,
                            frame.top,
                            frame.is_tail as usize,
                            frame.concat_resume as usize,
                        ] {
                            h.word(w as u64);
                        }
                        hash_returns(h, frame.returns);
                    }
                    FrameImg::Continuation {
                        then,
                        base,
                        returns,
                        ready,
                        callee_name,
                    } => {
                        hash_then(h, then, ids);
                        h.word(*base as u64);
                        hash_returns(h, *returns);
                        match ready {
                            None => h.word(0),
                            Some(OutcomeImg::Returned) => h.word(1),
                            Some(OutcomeImg::Errored(v)) => {
                                h.word(2);
                                hash_val(h, *v, ids);
                            }
                        }
                        h.bytes(callee_name.as_bytes());
                    }
                }
            }
            h.word(t.open_upvalues.len() as u64);
            for s in t.tbc_slots.iter() {
                h.word(*s as u64);
            }
            h.word(t.status as u64);
            hash_val(h, t.body.unwrap_or(Val::Nil), ids);
            h.word(t.started as u64);
            hash_val(h, t.death_error.unwrap_or(Val::Nil), ids);
            if let Some(then) = &t.resume_then {
                hash_then(h, then, ids);
            }
            h.word(t.resume_slot as u64);
            hash_returns(h, t.resume_returns);
            let super::image::HookImg {
                func,
                mask,
                count,
                counter,
                old_pc,
                running,
                call_pending,
                resume_depth,
                returned_depth,
            } = t.hook;
            hash_val(h, func, ids);
            h.word(mask as u64);
            h.word(count as u32 as u64);
            h.word(counter as u32 as u64);
            h.word(old_pc as u64);
            h.word(running as u64 | (call_pending as u64) << 1);
            h.word(resume_depth as u64);
            h.word(returned_depth as u64);
        }
        Obj::UserData(u) => {
            let UserDataImg {
                id,
                flags,
                metatable,
                type_name,
                payload_hash,
                ..
            } = &**u;
            // Typed payloads by their `Rewindable::checksum`; untyped ones by their type.
            h.word(17);
            h.word(*id);
            h.word(*flags as u64);
            match metatable {
                Some(m) => hash_ident(h, obj(*m)),
                None => h.word(u64::MAX),
            }
            h.bytes(type_name.as_bytes());
            h.word(*payload_hash);
        }
        Obj::Callback(_) | Obj::Proto { .. } | Obj::Executor(_) => return 0,
    }
    h.finish()
}
