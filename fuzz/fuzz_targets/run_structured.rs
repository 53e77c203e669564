//! Bytes pick tokens (keywords, operators, library functions, metamethod names) to make
//! token soup that often parses, then run like the `run` target.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let src = lunette_fuzz::token_soup(data);
    lunette_fuzz::run(&src);
});
