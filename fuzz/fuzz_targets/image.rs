//! Arbitrary bytes -> `Lua::snapshot_from_bytes` (untrusted VM images), then restore, step
//! every executor the image holds, collect, and write/read the VM's own image again. Must
//! never panic, hang or allocate beyond the limit. Seed it with real images
//! (`lunette_fuzz::image_seeds`; the `mutate` fuzzer makes them itself).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    lunette_fuzz::image(data);
});
