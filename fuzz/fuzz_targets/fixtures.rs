//! Fixture files: machine files, `apps.json`, `users.json`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| defender_mock::fuzzing::fixtures(data));
