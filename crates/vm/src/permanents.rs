//! The permanents table: every Rust function a VM value or a paused thread can refer to
//! (callbacks' `fn`s, continuations' `fn`s, resumable states' readers) under a stable key, and every name such a value
//! shows (a callback's name, a continuation's name, the callee name of a pending frame).
//!
//! Images written as bytes (`snapshot::bytes`) cannot hold function pointers: they hold the
//! key of each function, and the VM that reads them finds its own function under that key
//! here. The VM core registers its own functions when it is made ([`Permanents::core`]),
//! and each standard library registers every callback and continuation it can ever create
//! when it is opened (`lunette-stdlib`: each module lists its functions once). Writing an
//! image whose callback or continuation is not registered fails naming it; reading one that
//! names a key this VM lacks fails naming the key.
//!
//! A key is a pair of static strings, `(library, name)`, unique per function kind in a VM
//! (the same `fn` registered twice keeps its first key). Keys are separate from the names
//! tracebacks and error messages show (`Callback::name`, `Then::name`), which need not be
//! unique ("wrap" is both `coroutine.wrap`'s function and two of its continuations); those
//! names travel as names and must be registered too ([`Permanents::name`]; registering a
//! function registers its display name).
//!
//! Functions are told apart by address when an image is written (a `fn` item has one
//! address in a build; two `fn`s the compiler merged because their code is identical may
//! share one, and then either key gives the same code). The table lives outside the arena
//! (in `host_fn::HostFunctions`, like host functions), copy-on-write behind an `Arc` so an
//! owned snapshot keeps the one it was captured with.

use crate::function::{CallbackFn, ContinuationFn};
use crate::resumable::ReadStateFn;
use std::collections::HashMap;

/// A registered function's stable key: `(library, name)`, e.g. `("coroutine", "wrap")`.
pub type PermanentKey = (&'static str, &'static str);

/// The registered callbacks, continuations and names of a VM (see the module docs).
#[derive(Clone, Default)]
pub struct Permanents {
    callbacks: HashMap<PermanentKey, CallbackFn>,
    callback_keys: HashMap<usize, PermanentKey>,
    continuations: HashMap<PermanentKey, ContinuationFn>,
    continuation_keys: HashMap<usize, PermanentKey>,
    /// Each resumable reader with its key (so a lookup by borrowed strings finds the
    /// static key too).
    resumables: HashMap<PermanentKey, (PermanentKey, ReadStateFn)>,
    names: HashMap<&'static str, ()>,
}

impl std::fmt::Debug for Permanents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Permanents")
            .field("callbacks", &self.callbacks.len())
            .field("continuations", &self.continuations.len())
            .field("resumables", &self.resumables.len())
            .field("names", &self.names.len())
            .finish()
    }
}

impl Permanents {
    /// Registers callback `func` under `key`, and `display` as a name (what the callback's
    /// `Callback::name` is). A key already taken keeps its function (and `func` stays
    /// unregistered unless another key names it).
    pub fn callback(&mut self, key: PermanentKey, display: &'static str, func: CallbackFn) {
        // A key taken by another function does not name this one (it stays unregistered:
        // writing it fails by name instead of reading back as the other function).
        if *self.callbacks.entry(key).or_insert(func) as usize == func as usize {
            self.callback_keys.entry(func as usize).or_insert(key);
        }
        self.name(display);
        self.name(key.1);
    }

    /// Registers continuation `func` under `key`, and `display` as a name (the `Then::name`
    /// it is created with).
    pub fn continuation(&mut self, key: PermanentKey, display: &'static str, func: ContinuationFn) {
        if *self.continuations.entry(key).or_insert(func) as usize == func as usize {
            self.continuation_keys.entry(func as usize).or_insert(key);
        }
        self.name(display);
        self.name(key.1);
    }

    /// Registers the reader of the resumable states whose `ResumableState::key` is `key`
    /// (images name a state's kind by it). A key already taken keeps its reader.
    pub fn resumable(&mut self, key: PermanentKey, read: ReadStateFn) {
        self.resumables.entry(key).or_insert((key, read));
    }

    /// The static key of the resumable state kind `(library, name)` (an image's key, read
    /// from bytes), if a reader is registered for it.
    pub(crate) fn resumable_key(&self, library: &str, name: &str) -> Option<PermanentKey> {
        let resumables: &HashMap<(&str, &str), (PermanentKey, ReadStateFn)> = &self.resumables;
        resumables.get(&(library, name)).map(|&(key, _)| key)
    }

    /// The reader registered for resumable states of kind `key`.
    pub(crate) fn resumable_reader(&self, key: PermanentKey) -> Option<ReadStateFn> {
        self.resumables.get(&key).map(|&(_, read)| read)
    }

    /// Registers a name a callback, continuation or frame may show.
    pub fn name(&mut self, name: &'static str) {
        self.names.insert(name, ());
    }

    /// The key of a registered callback.
    pub(crate) fn callback_key(&self, func: CallbackFn) -> Option<PermanentKey> {
        self.callback_keys.get(&(func as usize)).copied()
    }

    /// The key of a registered continuation.
    pub(crate) fn continuation_key(&self, func: ContinuationFn) -> Option<PermanentKey> {
        self.continuation_keys.get(&(func as usize)).copied()
    }

    /// The registered name equal to `name` (as a static string).
    pub(crate) fn find_name(&self, name: &str) -> Option<&'static str> {
        self.names.get_key_value(name).map(|(k, _)| *k)
    }

    /// Whether `name` is registered.
    pub(crate) fn has_name(&self, name: &str) -> bool {
        self.names.contains_key(name)
    }

    /// The callback registered under `(library, name)` (an image's key, read from bytes).
    pub(crate) fn callback_by_key(&self, library: &str, name: &str) -> Option<CallbackFn> {
        // The map is covariant in its key: looked up with borrowed strings, no allocation.
        let callbacks: &HashMap<(&str, &str), CallbackFn> = &self.callbacks;
        callbacks.get(&(library, name)).copied()
    }

    /// The continuation registered under `(library, name)`.
    pub(crate) fn continuation_by_key(&self, library: &str, name: &str) -> Option<ContinuationFn> {
        let continuations: &HashMap<(&str, &str), ContinuationFn> = &self.continuations;
        continuations.get(&(library, name)).copied()
    }

    /// The VM core's functions: the executor's continuations, the collector's finalizer
    /// runs, host functions and async sequences.
    pub(crate) fn core() -> Self {
        let mut p = Permanents::default();
        crate::executor::permanents(&mut p);
        crate::hook::permanents(&mut p);
        crate::gc::permanents(&mut p);
        crate::host_fn::permanents(&mut p);
        crate::sequence::permanents(&mut p);
        crate::big_string::permanents(&mut p);
        p.continuation(
            crate::resumable::RESUME_KEY,
            "resumable",
            crate::resumable::resume_state,
        );
        // Metamethod callbacks (the string library's arithmetic) show their event's name.
        for name in crate::state::META_NAMES {
            p.name(name);
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::Exec;
    use crate::function::Action;
    use crate::state::Context;
    use crate::Error;

    fn one<'gc>(_: Context<'gc>, _: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
        Ok(Action::Return)
    }

    fn two<'gc>(_: Context<'gc>, e: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
        e.clear();
        Ok(Action::Return)
    }

    #[test]
    fn a_taken_key_never_names_another_function() {
        let mut p = Permanents::default();
        p.callback(("lib", "f"), "f", one);
        p.callback(("lib", "f"), "f", two);
        assert_eq!(p.callback_key(one), Some(("lib", "f")));
        assert_eq!(p.callback_key(two), None);
        // The same function under a second key keeps its first key.
        p.callback(("lib", "g"), "g", one);
        assert_eq!(p.callback_key(one), Some(("lib", "f")));
        assert!(p.has_name("f") && p.has_name("g"));
        assert_eq!(p.find_name("g"), Some("g"));
    }
}
