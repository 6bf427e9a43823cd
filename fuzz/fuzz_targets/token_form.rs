//! Token requests: optional `tenant` first line, then the form body, through `grant`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| defender_mock::fuzzing::token_form(data));
