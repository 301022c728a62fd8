//! Reading a saved run report back from its JSON text (`mpitorrent
//! report`). Pure: the caller reads the file (with a bound on its size)
//! and names it in the message.

use super::{RunReport, REPORT_VERSION};
use serde::de::IgnoredAny;
use serde::Deserialize;

/// Why a text is not a run report this build can read. Each message reads
/// after the file's name and "is": "`run.json` is not a run report ...".
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    #[error("not a run report (not JSON): {0}")]
    NotJson(#[source] serde_json::Error),
    #[error("not a run report (it has no \"version\" number)")]
    NoVersion,
    #[error("a version {found} run report, but this mpitorrent reads version {REPORT_VERSION}")]
    OtherVersion { found: u64 },
    #[error("not a valid version {REPORT_VERSION} run report: {0}")]
    Invalid(#[source] serde_json::Error),
}

/// Only the version of a report; every other field is skipped unread.
#[derive(Deserialize)]
struct Versioned {
    #[serde(default)]
    version: Option<serde_json::Value>,
}

impl RunReport {
    /// Parses a report written by `--report`. The version is checked
    /// first, so a report of another mpitorrent says so instead of naming
    /// whichever field changed. Neither pass builds a generic JSON tree, so
    /// memory stays proportional to what the report holds.
    pub fn from_json(text: &str) -> Result<RunReport, ReportError> {
        // A struct would also accept a JSON array (its fields in order).
        if !text
            .trim_start_matches([' ', '\t', '\n', '\r'])
            .starts_with('{')
        {
            return match serde_json::from_str::<IgnoredAny>(text) {
                Ok(_) => Err(ReportError::NoVersion),
                Err(e) => Err(ReportError::NotJson(e)),
            };
        }
        let versioned: Versioned = serde_json::from_str(text).map_err(|e| {
            if e.is_data() {
                ReportError::Invalid(e)
            } else {
                ReportError::NotJson(e)
            }
        })?;
        match versioned
            .version
            .as_ref()
            .and_then(serde_json::Value::as_u64)
        {
            Some(version) if version == u64::from(REPORT_VERSION) => {}
            Some(found) => return Err(ReportError::OtherVersion { found }),
            None => return Err(ReportError::NoVersion),
        }
        serde_json::from_str(text).map_err(ReportError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{FileReport, FileTime, MessageReport, PeerReport, RunSettings};
    use crate::stats::ResourceUse;

    fn report() -> RunReport {
        RunReport {
            version: REPORT_VERSION,
            settings: RunSettings {
                transport: "mpi".into(),
                strategy: "paced".into(),
                window: 8,
                per_rank_resources: true,
            },
            ranks: 1,
            wall_seconds: 0.25,
            segments_downloaded: 0,
            bytes_downloaded: 0,
            verification_failures: 0,
            first_segment_ms: None,
            messages: MessageReport {
                total: 0,
                by_kind: Default::default(),
                to_tracker: 0,
                from_tracker: 0,
                between_peers: 0,
                acks: 0,
                nacks: 0,
                per_segment: 0.0,
                to_tracker_per_segment: 0.0,
                transport_per_segment: 0.0,
            },
            tracker_resources: ResourceUse::default(),
            nodes: Vec::new(),
            reruns: Some(crate::tree::RerunCounts {
                files_reused: 2,
                segments_reused: 5,
                segments_hashed: 1,
                source_segments_hashed: 4,
            }),
            peers: vec![PeerReport {
                node: None,
                rank: 1,
                downloaded: 3,
                uploaded: 0,
                downloaded_from: [(2, 3)].into(),
                uploaded_to: Default::default(),
                nacks_received: 1,
                bytes_downloaded: 0,
                verification_failures: 0,
                source_bytes_read: 0,
                files: vec![FileTime {
                    name: "f".into(),
                    completed_ms: 12,
                }],
                progress: vec![(0, 0), (12, 3)],
                resources: ResourceUse::default(),
                start: Default::default(),
            }],
            files: vec![FileReport {
                name: "f".into(),
                segments: 3,
                initial_owners: vec![2],
                holders: vec![1, 2],
                uploads: [(1, 0), (2, 3)].into(),
                fairness: Some(0.5),
            }],
        }
    }

    #[test]
    fn reads_what_was_written() {
        let json = serde_json::to_string_pretty(&report()).unwrap();
        assert_eq!(RunReport::from_json(&json).unwrap(), report());
    }

    #[test]
    fn says_what_is_wrong() {
        let message = |text: &str| RunReport::from_json(text).unwrap_err().to_string();
        assert!(message("garbage").starts_with("not a run report (not JSON)"));
        assert!(message("{\"version\": 1").contains("not JSON"));
        assert!(message("{\"version\": 1} x").contains("not JSON"));
        assert_eq!(message("[1, 2]"), ReportError::NoVersion.to_string());
        assert_eq!(
            message("{\"version\": \"1\"}"),
            ReportError::NoVersion.to_string()
        );
        assert_eq!(
            message("{\"version\": 2, \"anything\": []}"),
            "a version 2 run report, but this mpitorrent reads version 1"
        );
        let missing = message("{\"version\": 1}");
        assert!(missing.starts_with("not a valid version 1 run report: missing field"));
    }

    proptest::proptest! {
        /// A report cut anywhere and spliced with other text reads or
        /// fails cleanly; whatever reads writes back to itself (the fuzz
        /// target `report` does the same without bounds).
        #[test]
        fn spliced_reports_read_or_fail_cleanly(
            cut in 0usize..2000,
            splice in "[\\[\\]{}:,\"0-9a-z.-]{0,12}",
            rest in 0usize..2000,
        ) {
            let json = serde_json::to_string(&report()).unwrap();
            let cut = cut.min(json.len());
            let rest = rest.clamp(cut, json.len());
            let text = format!("{}{splice}{}", &json[..cut], &json[rest..]);
            if let Ok(read) = RunReport::from_json(&text) {
                let again = serde_json::to_string(&read).unwrap();
                proptest::prop_assert_eq!(RunReport::from_json(&again).unwrap(), read);
            }
        }
    }
}
