//! The one place where mpitorrent touches a user's file system.
//!
//! mpitorrent often runs as root on shared machines, writing into folders
//! that other users can write to (`/tmp`, scratch). So:
//!
//! - everything it writes is created beneath a folder the user named,
//!   relative to a descriptor of that folder, one path component at a time,
//!   never following a symbolic link ([`beneath`]);
//! - under an exclusive, unpredictable temporary name, and renamed into
//!   place only when complete ([`temp`]); temporaries that a killed run
//!   left are recognised and removed by the next run ([`stale`]); a file
//!   written whole in one run (a small file of a pack) may instead have no
//!   name at all until it is complete ([`unnamed`]);
//! - everything it reads from a user's path is read with a bound
//!   ([`bounded`]), so `/dev/zero` or a FIFO ends with an error, not with
//!   the machine's memory.

pub mod beneath;
pub mod bounded;
mod error;
pub mod meta;
pub mod stale;
pub mod temp;
pub mod unnamed;
pub mod walk;

pub use beneath::{Folder, NAME_MAX};
pub use error::Error;
pub use temp::TempFile;
pub use unnamed::NewFile;
