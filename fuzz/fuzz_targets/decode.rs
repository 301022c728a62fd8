//! The wire decoder must never panic, whatever bytes another rank sends.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mpitorrent_core::wire;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(msg) = wire::decode(bytes) {
        // Whatever decodes must encode back to something that decodes the same.
        assert_eq!(wire::decode(&wire::encode(&msg)).unwrap(), msg);
    }
});
