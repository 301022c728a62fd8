//! The run report reader (`mpitorrent report`) must never panic, whatever
//! the file holds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mpitorrent_core::report::RunReport;

fuzz_target!(|bytes: &[u8]| {
    // `mpitorrent report` refuses text that is not UTF-8 before parsing.
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    if let Ok(report) = RunReport::from_json(text) {
        // Whatever reads must summarise, and write back to the same report.
        let _ = report.summary();
        let json = serde_json::to_string(&report).expect("a report serialises");
        let again = RunReport::from_json(&json).expect("a written report reads");
        assert_eq!(serde_json::to_string(&again).unwrap(), json);
    }
});
