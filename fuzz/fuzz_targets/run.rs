//! Arbitrary bytes as source, run under `Lua::sandboxed` with small fuel per step and a
//! small step cap. Must never panic, abort, hang or overrun a step by more than OVERRUN.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    lunette_fuzz::run(data);
});
