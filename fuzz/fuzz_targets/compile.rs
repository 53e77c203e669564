//! Arbitrary bytes -> `lunette::compiler::compile`. Must never panic or overflow the stack.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    lunette_fuzz::compile(data);
});
