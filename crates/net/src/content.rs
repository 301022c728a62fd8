//! What a peer's segments are made of, seen from the drivers: in classic
//! mode a segment is only its hash, and a finished file becomes a
//! `client<R>_<name>` listing; in `share` mode a segment is real bytes,
//! stored in place as it arrives and read back to serve others.

use mpitorrent_core::holdings::HeldFile;
use mpitorrent_core::uploader::Serve;
use mpitorrent_core::{wire, Rank, SegmentIdx};
use std::path::PathBuf;

/// Where [`Content::hash_late`] hands each batch of hashes: the file's
/// name, its first segment and the hashes.
pub type Publish<'a> = dyn FnMut(&str, SegmentIdx, Vec<String>) -> Result<(), String> + 'a;

/// The peer drivers' view of file contents. Both peer threads use it at
/// once (storing and finishing on the download thread, reading on the
/// upload thread), hence `Sync`.
pub trait Content: Sync {
    /// Whether segments carry bytes that must be verified, stored and sent.
    fn carries_bytes(&self) -> bool;

    /// Stores a verified segment of a file being downloaded.
    fn store(&self, file: &HeldFile, index: SegmentIdx, bytes: &[u8]) -> Result<(), String>;

    /// The encoded ACK that serves what the uploader said to. Real bytes
    /// are read straight into the message ([`wire::encode_segment_ack`]),
    /// never copied again; the classic default carries none.
    fn encode_ack(&self, serve: &Serve) -> Result<Vec<u8>, String> {
        Ok(wire::encode(&serve.hash_only().msg))
    }

    /// A seeder's files registered with their sizes alone (hashes to
    /// come): hashes them in the order registered, handing each batch to
    /// `publish` (the file's name, its first segment, the hashes) as soon
    /// as it is ready, and returns once every one is handed over, or with
    /// the first error (of reading, or of `publish`). Nothing by default.
    fn hash_late(&self, _publish: &mut Publish<'_>) -> Result<(), String> {
        Ok(())
    }

    /// Bytes of its source a seeder read to hash them so far (before the
    /// registration and in [`Content::hash_late`]). None by default.
    fn source_bytes_read(&self) -> u64 {
        0
    }

    /// A wanted file is complete: write or finish it where the user wants
    /// it.
    fn complete(&self, rank: Rank, file: &HeldFile) -> Result<(), String>;

    /// The job failed: remove whatever was half written (files already
    /// complete stay). Nothing by default.
    fn abandon(&self) {}

    /// This rank's part of the job ended well: remove the temporaries that
    /// an earlier, killed run of this rank left where this one writes (only
    /// its own pattern, only those no live process holds: see
    /// [`mpitorrent_fs::stale`]); says which. Nothing by default.
    fn tidy(&self) -> Result<Vec<PathBuf>, mpitorrent_fs::Error> {
        Ok(Vec::new())
    }
}
