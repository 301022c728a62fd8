//! `mpitorrent manifest FILE...`: real files described the classic way, a
//! `<name> <segment count>` line and then one BLAKE3 hash per segment, so
//! real and classic files are listed alike (and a share can be checked by
//! hand). `share --manifest` takes this output instead of hashing its
//! source ([`mpitorrent_net::share::manifest`]).

use crate::cli::ManifestArgs;
use anyhow::Result;
use mpitorrent_core::classic::render_output;
use mpitorrent_core::escape::shown_path;
use mpitorrent_net::share::scan::hash_file;
use std::io::Write;
use std::process::ExitCode;

pub fn run(args: ManifestArgs) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    for path in &args.files {
        // A device or a FIFO is refused there: it might never end.
        let (_, hashes) = hash_file(path, args.segment_size)?;
        write!(
            out,
            "{} {}\n{}",
            shown_path(path),
            hashes.len(),
            render_output(&hashes)
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
