//! lunette-stdlib: the Lua standard libraries, written against `lunette-vm`'s public API.
//! One module a library; each can be opened on its own.

#![forbid(unsafe_code)]

pub mod base;
pub mod coroutine;
mod util;

use lunette_vm::Context;

/// Opens every library this crate provides into the globals.
pub fn open_all(ctx: Context<'_>) {
    base::open(ctx);
    coroutine::open(ctx);
}
