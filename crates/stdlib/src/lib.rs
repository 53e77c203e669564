//! lunette-stdlib: the Lua standard libraries, written against `lunette-vm`'s public API.
//! One module a library; each can be opened on its own.

#![forbid(unsafe_code)]

pub mod base;
pub mod coroutine;
pub mod debug;
mod format;
pub mod io;
pub mod math;
pub mod os;
mod pack;
pub mod package;
mod pattern;
pub mod string;
pub mod table;
pub mod utf8;
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
