//! The wire decoder must never panic, whatever bytes another rank sends.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mpitorrent_core::wire;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(msg) = wire::decode(bytes) {
        // Whatever decodes must encode to bytes that decode to the same
        // message (compared as bytes: a float field may hold NaN).
        let encoded = wire::encode(&msg);
        let again = wire::decode(&encoded).expect("an encoded message decodes");
        assert_eq!(wire::encode(&again), encoded);
    }
});
