//! lunette-vm: the object model, the stackless interpreter and executor, fuel, callbacks and
//! the host API. See `ARCHITECTURE.md` at the repository root for the map.

// `unsafe` is denied everywhere but the one audited module, `gc_unsafe`.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod convert;
pub mod debug;
pub mod error;
pub mod executor;
pub mod function;
pub mod gc;
mod gc_unsafe;
mod handle;
pub mod host;
pub mod host_fn;
pub mod interp;
mod journal;
pub mod lua;
pub mod memory;
pub mod number;
pub mod run;
pub mod sequence;
pub mod snapshot;
pub mod state;
pub mod string;
pub mod table;
pub mod thread;
pub mod userdata;
pub mod value;

pub use convert::{Bytes, FromLua, FromLuaMulti, Function, IntoLua, IntoLuaMulti, Variadic};
pub use error::{Error, LuaError, LuaErrorKind};
pub use executor::{Exec, ExecResult, Executor, Fuel};
pub use function::{Action, Callback, CallbackFn, ContinuationFn, LuaClosure, Outcome, Then};
pub use handle::{StaleHandle, StashedExecutor, StashedValue};
pub use host::{CaptureHost, DenyGrants, Grants, Host, StdHost};
pub use lua::{display_plain, error_message, Lua};
pub use lunette_compiler::{chunk_id, CompileError, Prototype};
pub use run::{Chunk, ChunkMode, StepStatus};
pub use sequence::{async_callback, SequenceError, SequenceHandle, SequenceResult};
pub use snapshot::{Snapshot, SnapshotError};
pub use state::{Context, MetaEvent};
pub use string::LuaString;
pub use table::Table;
pub use thread::{Thread, ThreadStatus};
pub use userdata::{Revive, Snapshotable, UserData};
pub use value::{Value, ValueType};
