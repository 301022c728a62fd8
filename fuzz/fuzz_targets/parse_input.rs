//! The `in<R>.txt` parser must never panic, whatever the file holds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mpitorrent_core::classic::{parse_peer_input, render_input};

fuzz_target!(|bytes: &[u8]| {
    let text = String::from_utf8_lossy(bytes);
    if let Ok(input) = parse_peer_input(&text) {
        // Whatever parses must render back to the same input.
        assert_eq!(parse_peer_input(&render_input(&input)).unwrap(), input);
    }
});
