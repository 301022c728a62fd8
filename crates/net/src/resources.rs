//! What this process used: CPU time and peak resident memory, from
//! `getrusage`, for the run report.

use mpitorrent_core::stats::ResourceUse;

/// The CPU time (user + system) and peak resident memory of this process.
pub fn process_resources() -> ResourceUse {
    // SAFETY: getrusage only writes the struct we hand it.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
            return ResourceUse::default();
        }
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    ResourceUse {
        cpu_seconds: seconds(usage.ru_utime) + seconds(usage.ru_stime),
        // Linux reports ru_maxrss in KiB.
        peak_rss_kib: usage.ru_maxrss.max(0) as u64,
        ..ResourceUse::default()
    }
}

/// When this process started, as near as the binary can tell: the first
/// call, which `main` makes before anything else. The report's
/// `first_segment_ms` counts from it (each rank from its own start).
pub fn process_start() -> std::time::Instant {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *START.get_or_init(std::time::Instant::now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_process_uses_some_memory() {
        let used = process_resources();
        assert!(used.peak_rss_kib > 0);
        assert!(used.cpu_seconds >= 0.0);
    }
}
