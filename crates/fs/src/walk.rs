//! A walk of a folder's tree on several threads at once, never through a
//! link, for the scans that list a whole tree before anything moves (a
//! seeder's `--from`). Listing and opening a file is a few system calls
//! of kernel work, on a local disk as on a parallel filesystem, where each
//! also waits for a metadata server: a tree of 20,000 small files took a
//! seeder 124 ms on one thread, while the job's other ranks waited.
//!
//! Each thread has its own [`Visitor`]; they take folders from one queue
//! (a folder's sub-folders go back into it), so a tree with one big
//! sub-folder is shared as well as one with many. What each visitor saw is
//! merged by the caller, in an order of its own choosing: which thread
//! visits which folder is not determined.

use crate::beneath::{Folder, Visitor};
use crate::Error;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

/// Folders still to list, and how many threads are listing one (which may
/// add more). A folder waits open (its descriptor) while few do; past
/// [`OPEN_QUEUED`] it waits as its path and is opened again, beneath the
/// root, when its turn comes, so that a tree of a million folders does not
/// need a million descriptors.
#[derive(Default)]
struct Queue {
    folders: Vec<(Option<Folder>, PathBuf)>,
    open: usize,
    busy: usize,
    failed: Option<Error>,
}

/// The most folders that wait open in the queue.
const OPEN_QUEUED: usize = 64;

/// Walks every folder below `root` as [`Folder::walk`] does, with one
/// thread per visitor in `visitors` (a single visitor walks on the calling
/// thread). Every entry is seen by exactly one visitor; a folder's entries
/// all by the same one. The first error ends the walk.
pub fn walk_parallel<V: Visitor + Send>(root: &Folder, visitors: &mut [V]) -> Result<(), Error> {
    match visitors {
        [] => return Ok(()),
        [only] => return root.walk(only),
        _ => {}
    }
    let queue = Mutex::new(Queue::default());
    let ready = Condvar::new();
    // The root's own entries first, on this thread: they start the queue.
    list(root, Path::new(""), &mut visitors[0], &queue, &ready)?;
    std::thread::scope(|scope| {
        for visitor in visitors.iter_mut() {
            let (queue, ready) = (&queue, &ready);
            scope.spawn(move || work(root, visitor, queue, ready));
        }
    });
    let queue = queue.into_inner().unwrap_or_else(|e| e.into_inner());
    queue.failed.map_or(Ok(()), Err)
}

/// One thread's part: lists folders from the queue until none is left
/// and no other thread can add one.
fn work<V: Visitor>(root: &Folder, visitor: &mut V, queue: &Mutex<Queue>, ready: &Condvar) {
    loop {
        let mut state = queue.lock().unwrap_or_else(|e| e.into_inner());
        let (folder, relative) = loop {
            if state.failed.is_some() {
                return;
            }
            if let Some(next) = state.folders.pop() {
                state.open -= usize::from(next.0.is_some());
                break next;
            }
            if state.busy == 0 {
                return;
            }
            state = ready.wait(state).unwrap_or_else(|e| e.into_inner());
        };
        state.busy += 1;
        drop(state);
        let listed = match folder {
            Some(folder) => list(&folder, &relative, visitor, queue, ready),
            None => root
                .open_folder(&relative)
                .and_then(|folder| list(&folder, &relative, visitor, queue, ready)),
        };
        let mut state = queue.lock().unwrap_or_else(|e| e.into_inner());
        state.busy -= 1;
        if let Err(e) = listed {
            state.failed.get_or_insert(e);
        }
        if state.busy == 0 || state.failed.is_some() {
            // The last one out, or a failure: every waiter must look again.
            ready.notify_all();
        }
    }
}

/// Hands `folder`'s entries to `visitor` and queues the sub-folders it
/// chooses to enter.
fn list<V: Visitor>(
    folder: &Folder,
    relative: &Path,
    visitor: &mut V,
    queue: &Mutex<Queue>,
    ready: &Condvar,
) -> Result<(), Error> {
    folder.list(relative, visitor, &mut |_, sub, below| {
        let mut state = queue.lock().unwrap_or_else(|e| e.into_inner());
        let keep_open = state.open < OPEN_QUEUED;
        state.open += usize::from(keep_open);
        state.folders.push((keep_open.then_some(sub), below));
        drop(state);
        ready.notify_one();
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::beneath::Kind;
    use std::ffi::OsStr;
    use std::fs;

    /// Records what it was shown, entering every folder but `skip`.
    #[derive(Default)]
    struct Seen {
        files: Vec<PathBuf>,
        folders: Vec<PathBuf>,
    }

    impl Visitor for Seen {
        fn enter(&mut self, _: &Folder, relative: &Path) -> Result<bool, Error> {
            self.folders.push(relative.into());
            Ok(relative != Path::new("skip"))
        }
        fn visit(&mut self, _: &Folder, _: &OsStr, rel: &Path, kind: Kind) -> Result<(), Error> {
            self.files.push(if kind == Kind::Link {
                rel.join("@link")
            } else {
                rel.into()
            });
            Ok(())
        }
    }

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        // More folders in the root than wait open in the queue.
        for i in 0..300 {
            let folder = dir.path().join(format!("d{}/e{}", i % 100, i % 3));
            fs::create_dir_all(&folder).unwrap();
            fs::write(folder.join(format!("f{i}")), b"x").unwrap();
        }
        fs::create_dir_all(dir.path().join("skip/inner")).unwrap();
        fs::write(dir.path().join("skip/hidden"), b"x").unwrap();
        fs::write(dir.path().join("top"), b"x").unwrap();
        std::os::unix::fs::symlink("/etc", dir.path().join("d1/away")).unwrap();
        dir
    }

    fn sorted(mut paths: Vec<PathBuf>) -> Vec<PathBuf> {
        paths.sort();
        paths
    }

    #[test]
    fn several_threads_see_what_one_sees_once_each() {
        let dir = tree();
        let root = Folder::open(dir.path()).unwrap();
        let mut alone = Seen::default();
        root.walk(&mut alone).unwrap();
        assert_eq!(alone.files.len(), 302, "300 files, the top one and a link");
        for threads in [1, 2, 5] {
            let mut visitors: Vec<Seen> = (0..threads).map(|_| Seen::default()).collect();
            walk_parallel(&root, &mut visitors).unwrap();
            let files = visitors.iter().flat_map(|v| v.files.clone()).collect();
            let folders = visitors.iter().flat_map(|v| v.folders.clone()).collect();
            assert_eq!(
                sorted(files),
                sorted(alone.files.clone()),
                "{threads} threads"
            );
            assert_eq!(sorted(folders), sorted(alone.folders.clone()));
        }
    }

    /// Fails on the file named `f150`.
    struct Failing;

    impl Visitor for Failing {
        fn visit(&mut self, _: &Folder, name: &OsStr, rel: &Path, _: Kind) -> Result<(), Error> {
            match name == "f150" {
                true => Err(Error::Outside { path: rel.into() }),
                false => Ok(()),
            }
        }
    }

    #[test]
    fn the_first_error_ends_the_walk() {
        let dir = tree();
        let root = Folder::open(dir.path()).unwrap();
        let err = walk_parallel(&root, &mut [Failing, Failing, Failing]).unwrap_err();
        assert!(err.to_string().contains("f150"), "{err}");
    }
}
