//! Action request bodies: first byte picks the Content-Type, the rest is the body.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| defender_mock::fuzzing::json_body(data));
