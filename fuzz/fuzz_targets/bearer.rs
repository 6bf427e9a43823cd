//! `Authorization` header values: bearer parsing, token verification, authorization.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|header: &[u8]| defender_mock::fuzzing::bearer(header));
