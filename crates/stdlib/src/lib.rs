//! lunette-stdlib: the Lua standard libraries, written against `lunette-vm`'s public API.
//! One module a library; each can be opened on its own.

#![forbid(unsafe_code)]

pub mod base;
pub mod coroutine;
pub mod string;
pub mod table;
pub mod math;
pub mod utf8;
pub mod os;
pub mod io;
pub mod debug;
pub mod package;
mod format;
mod pack;
mod pattern;
mod util;

use lunette_vm::Context;

/// Opens every library this crate provides into the globals.
pub fn open_all(ctx: Context<'_>) {
    base::open(ctx);
    coroutine::open(ctx);
    string::open(ctx);
    table::open(ctx);
    math::open(ctx);
    utf8::open(ctx);
    os::open(ctx);
    io::open(ctx);
    debug::open(ctx);
    // Last: `package.loaded` collects the libraries opened above.
    package::open(ctx);
}
