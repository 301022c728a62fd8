//! Fault injection, for tests that must show the job ends cleanly when a
//! rank misbehaves. A plan is read from the `MPITORRENT_FAULT` environment
//! variable by the binary (`KIND@RANK`, e.g. `silent-upload@2`); without
//! it, no code path here runs.

use mpitorrent_core::Rank;
use std::str::FromStr;

/// The environment variable the binary reads a [`FaultPlan`] from.
pub const FAULT_ENV: &str = "MPITORRENT_FAULT";

/// What goes wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The upload thread takes requests and never answers (a stall).
    SilentUpload,
    /// The upload thread answers with bytes that are not a message.
    GarbageUpload,
    /// The process dies (SIGABRT) on its first segment request, as if killed.
    CrashOnUpload,
    /// The upload thread spoils the bytes of every segment it sends
    /// (`share`), so receivers must catch it by the hash.
    CorruptUpload,
    /// The hash thread of a seeder waits after each batch of hashes it
    /// sends (`share`), so that segments move between its batches.
    SlowHashing,
    /// On TERMINATE the upload thread sends the tracker one message more,
    /// which nobody there receives: the shutdown must find it.
    StrayAtEnd,
}

/// A fault and the rank it strikes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultPlan {
    pub fault: Fault,
    pub rank: Rank,
}

impl FaultPlan {
    /// The fault for `rank`, if the plan strikes it.
    pub fn for_rank(plan: Option<FaultPlan>, rank: Rank) -> Option<Fault> {
        plan.filter(|p| p.rank == rank).map(|p| p.fault)
    }
}

impl FromStr for FaultPlan {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let usage = || {
            format!(
                "{FAULT_ENV}={text:?}: expected KIND@RANK with KIND one of \
                 silent-upload, garbage-upload, crash-on-upload, corrupt-upload, slow-hashing, \
                 stray-at-end"
            )
        };
        let (kind, rank) = text.split_once('@').ok_or_else(usage)?;
        let fault = match kind {
            "silent-upload" => Fault::SilentUpload,
            "garbage-upload" => Fault::GarbageUpload,
            "crash-on-upload" => Fault::CrashOnUpload,
            "corrupt-upload" => Fault::CorruptUpload,
            "slow-hashing" => Fault::SlowHashing,
            "stray-at-end" => Fault::StrayAtEnd,
            _ => return Err(usage()),
        };
        let rank = rank.parse().map(Rank).map_err(|_| usage())?;
        Ok(FaultPlan { fault, rank })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kind_at_rank() {
        let plan: FaultPlan = "garbage-upload@3".parse().unwrap();
        assert_eq!(plan.fault, Fault::GarbageUpload);
        assert_eq!(
            FaultPlan::for_rank(Some(plan), Rank(3)),
            Some(Fault::GarbageUpload)
        );
        assert_eq!(FaultPlan::for_rank(Some(plan), Rank(2)), None);
        assert!("nonsense".parse::<FaultPlan>().is_err());
        assert!("silent-upload@x".parse::<FaultPlan>().is_err());
    }
}
