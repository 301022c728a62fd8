//! Which folder a `share` rank writes into, as the tracker compares them
//! ([`Destination`]): the host's name, and the device and inode of the
//! `--to` folder once every link in its path is followed. Two ranks with
//! the same destination would write the same files into one folder.

use mpitorrent_core::Destination;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The destination of a rank whose `--to` folder (existing) is `to`.
pub fn destination_of(to: &Path) -> io::Result<Destination> {
    let folder = std::fs::metadata(to)?;
    Ok(Destination {
        host: host_name(),
        device: folder.dev(),
        inode: folder.ino(),
        path: to.display().to_string(),
    })
}

/// This machine's host name (of its UTS namespace, as `hostname` prints
/// it), or "localhost" if it cannot be read.
pub fn host_name() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: the buffer is valid for its whole length; gethostname writes
    // at most that many bytes.
    let status = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    // POSIX leaves the terminator out when the name is truncated: stop at
    // the first NUL or at the end of the buffer.
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    match (status, end) {
        (0, 1..) => String::from_utf8_lossy(&buffer[..end]).into_owned(),
        _ => "localhost".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_spellings_of_one_folder_are_one_destination() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("to")).unwrap();
        std::os::unix::fs::symlink("to", dir.path().join("link")).unwrap();
        std::fs::create_dir(dir.path().join("other")).unwrap();
        let to = destination_of(&dir.path().join("to")).unwrap();
        let link = destination_of(&dir.path().join("link/.")).unwrap();
        let other = destination_of(&dir.path().join("other")).unwrap();
        assert_eq!(to.identity(), link.identity());
        assert_ne!(to.identity(), other.identity());
        assert!(link.path.ends_with("link/."), "{}", link.path);
        assert!(!to.host.is_empty());
        assert!(destination_of(&dir.path().join("missing")).is_err());
    }
}
