//! lunette-vm: the object model, the stackless interpreter and executor, fuel, callbacks and
//! the host API, without the standard libraries ([`Lua::core`]). Embedders normally use the
//! `lunette` crate, which opens the libraries and re-exports this crate's root; its crate
//! docs are the guided tour. `ARCHITECTURE.md` at the repository root maps the modules.
//!
//! The API is what this root re-exports. The public modules are for the sibling crates
//! (`lunette-stdlib`) and for constants such as [`executor::MAX_STACK_SLOTS`].

// `unsafe` is denied everywhere but the one audited module, `gc_unsafe`.
#![deny(unsafe_code)]
#![warn(missing_docs)]

// `big_string` is public for `lunette-stdlib` (its builtins return big results through
// the builder); embedders do not need it.
#[doc(hidden)]
pub mod big_string;
mod compile_ahead;
mod convert;
pub mod debug;
mod error;
pub mod executor;
mod frame_stack;
mod function;
// `gc` and `interp` are public for `lunette-stdlib` only (`collectgarbage`'s finalizer runs
// and charges; metamethod-aware `index`/`new_index`/comparisons for `table`, `string` and
// `base`). Embedders must not use them: they are hidden from the docs and may change at any
// time. The embedder's API is what the crate root re-exports.
#[doc(hidden)]
pub mod gc;
mod gc_unsafe;
mod handle;
mod hook;
mod host;
mod host_fn;
mod instantiation;
#[doc(hidden)]
pub mod interp;
mod journal;
pub mod lua;
mod memory;
pub mod number;
mod object;
mod permanents;
mod resumable;
mod run;
mod sequence;
mod snapshot;
mod state;
pub mod string;
mod table;
mod thread;
mod userdata;
mod userdata_type;
mod value;

pub use compile_ahead::LoadPiece;
pub use convert::{Bytes, FromLua, FromLuaMulti, Function, IntoLua, IntoLuaMulti, Variadic};
pub use error::{Error, LuaError, LuaErrorKind, Message};
pub use executor::{Exec, ExecResult, Executor, Fuel};
pub use function::{Action, Callback, CallbackFn, ContinuationFn, LuaClosure, Outcome, Then};
pub use handle::{StaleHandle, StashedExecutor, StashedValue};
pub use hook::HookInfo;
pub use host::{CaptureHost, DenyGrants, Grants, Host, StdHost};
pub use lua::{display_plain, error_message, Lua, DEFAULT_MAX_SNAPSHOTS, DEFAULT_STEP_FUEL};
pub use lunette_compiler::{chunk_id, skip_shebang, CompileError, Prototype};
pub use memory::MemoryAccount;
pub use permanents::{PermanentKey, Permanents};
pub use resumable::{ReadStateFn, Resumable, ResumableState, StateReader, StateWriter};
pub use run::{Chunk, ChunkMode, StepStatus};
pub use sequence::{async_callback, SequenceError, SequenceFuture, SequenceHandle, SequenceResult};
pub use snapshot::{
    Snapshot, SnapshotError, DECODE_BASE_BYTES, DECODE_BYTES_PER_INPUT_BYTE, IMAGE_FORMAT_VERSION,
    IMAGE_MAGIC,
};
pub use state::{Context, MetaEvent};
pub use string::LuaString;
pub use table::{InvalidKey, InvalidNextKey, Table};
pub use thread::{Thread, ThreadStatus};
pub use userdata::{Revive, Snapshotable, UserData};
pub use userdata_type::{
    ChecksumHasher, Rewindable, SerializableUserData, UserDataRef, UserDataRegistry, UserDataType,
};
pub use value::{Value, ValueType};
