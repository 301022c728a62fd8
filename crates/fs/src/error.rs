//! The crate's one error type: what went wrong, naming the path it
//! concerns, in words a user can act on. Callers add who they are (the
//! rank) in front.

use mpitorrent_core::escape::shown_path;
use std::io;
use std::path::PathBuf;

/// A file or folder could not be used as asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The system refused `op` (a verb: "create", "write", "open the
    /// folder") on `path`. The cause is part of the message, not a
    /// `source`, so that a chain of contexts prints it once.
    #[error("cannot {op} {}: {cause}", shown_path(path))]
    Io {
        op: &'static str,
        path: PathBuf,
        cause: io::Error,
    },
    /// A symbolic link where a folder or file below the folder the user
    /// named was expected: mpitorrent never follows one there.
    #[error(
        "{} is a symbolic link, and mpitorrent follows no link below the folder it was given",
        shown_path(path)
    )]
    Link { path: PathBuf },
    /// Something that is not a folder where a folder was expected.
    #[error("{} is not a folder", shown_path(path))]
    NotAFolder { path: PathBuf },
    /// A folder where a file must be read or written.
    #[error("{} is a folder, where a file was expected", shown_path(path))]
    IsAFolder { path: PathBuf },
    /// A FIFO, device or socket where a regular file was expected.
    #[error("{} is not a regular file", shown_path(path))]
    NotAFile { path: PathBuf },
    /// A relative path with a `..`, absolute or empty component.
    #[error(
        "'{}' would leave its folder (only plain names below it are allowed)",
        shown_path(path)
    )]
    Outside { path: PathBuf },
    /// A file name longer than a file system takes.
    #[error(
        "{}: the name is {len} bytes, longer than the {} bytes a file name may have",
        shown_path(path),
        crate::NAME_MAX
    )]
    NameTooLong { path: PathBuf, len: usize },
    /// The temporary was removed or replaced by someone else while it was
    /// being written, so it is not renamed into place.
    #[error(
        "cannot finish {}: its temporary file was removed or replaced while it was written",
        shown_path(path)
    )]
    Replaced { path: PathBuf },
}

impl Error {
    /// An [`Error::Io`] for `op` on `path`.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, cause: io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            cause,
        }
    }

    /// The operating system's error number, if the system refused.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::Io { cause, .. } => cause.raw_os_error(),
            _ => None,
        }
    }

    /// Whether the path (or a folder on the way) does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Io { cause, .. } if cause.kind() == io::ErrorKind::NotFound)
    }
}
