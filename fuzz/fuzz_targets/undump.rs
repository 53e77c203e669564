//! Arbitrary bytes as a binary chunk (`string.dump`'s format): decoded as untrusted input,
//! verified, round-tripped, and when it verifies, run under `Lua::sandboxed` with small fuel
//! per step and a 16 MiB memory limit. Must never panic, abort, hang or overrun a step.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    lunette_fuzz::undump(data);
});
