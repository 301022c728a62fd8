//! Real files for `share`: finding and hashing the files a rank offers
//! ([`scan`]), and writing received segments in place and serving them
//! back ([`storage`], through the page cache or, with `--direct`, around
//! it: [`direct`]), and naming the folder a rank writes into
//! ([`destination`]); before any of it, the tree every rank agrees on,
//! with modes, times, folders, links and the free-space check
//! ([`plan`]), a seeder's scan started while MPI starts ([`early`]); a seeder's hashes from a manifest instead of its files
//! ([`manifest`]); and rank 0's view of the progress in bytes
//! ([`progress`]). Whole files are never held in memory: one segment
//! at a time is read, hashed, written or sent.

pub mod content;
pub mod destination;
pub mod direct;
pub mod early;
pub mod job;
pub mod late;
pub mod manifest;
pub mod pack;
pub mod plan;
pub mod progress;
pub mod scan;
pub mod storage;
