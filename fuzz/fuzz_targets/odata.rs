//! OData query strings and bare `$filter` expressions on both entity sets.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|query: &str| defender_mock::fuzzing::odata(query));
