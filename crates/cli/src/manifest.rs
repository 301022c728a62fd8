//! `mpitorrent manifest FILE...`: real files described the classic way, a
//! `<name> <segment count>` line and then one BLAKE3 hash per segment, so
//! real and classic files are listed alike (and a share can be checked by
//! hand).

use crate::cli::ManifestArgs;
use anyhow::{Context, Result};
use mpitorrent_core::classic::render_output;
use mpitorrent_net::share::scan::hash_file;
use std::io::Write;
use std::process::ExitCode;

pub fn run(args: ManifestArgs) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    for path in &args.files {
        if !path.is_file() {
            anyhow::bail!("{} is not a regular file", path.display());
        }
        let (_, hashes) = hash_file(path, args.segment_size)
            .with_context(|| format!("cannot read {}", path.display()))?;
        write!(
            out,
            "{} {}\n{}",
            path.display(),
            hashes.len(),
            render_output(&hashes)
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
