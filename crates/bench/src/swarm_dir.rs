//! A scenario on disk: a fresh temporary folder holding the peers'
//! `in<R>.txt` and the `expected/` outputs, emptied of outputs before each
//! run and checked after it, file by file, byte for byte.

use anyhow::{Context, Result};
use mpitorrent_core::scenario::Scenario;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// The prefix of every file a run writes (`client<R>_<file>`).
const OUTPUT_PREFIX: &str = "client";
const EXPECTED_DIR: &str = "expected/";

/// A scenario written into its own temporary folder (removed on drop).
pub struct SwarmDir {
    dir: TempDir,
    /// Every output a correct run writes: file name and content.
    expected: Vec<(String, String)>,
}

impl SwarmDir {
    /// Writes `scenario` (inputs and expected outputs) into a new folder.
    pub fn create(scenario: &Scenario) -> Result<SwarmDir> {
        let dir = tempfile::Builder::new()
            .prefix("mpitorrent-bench-")
            .tempdir()
            .context("cannot create a temporary folder")?;
        let mut expected = Vec::new();
        for (relative, content) in scenario.files() {
            let path = dir.path().join(&relative);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)?;
            }
            fs::write(&path, &content)
                .with_context(|| format!("cannot write {}", path.display()))?;
            if let Some(name) = relative.strip_prefix(EXPECTED_DIR) {
                expected.push((name.to_string(), content));
            }
        }
        Ok(SwarmDir { dir, expected })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Where a run writes its report.
    pub fn report_path(&self) -> PathBuf {
        self.path().join("report.json")
    }

    /// Deletes every output and the report of the previous run.
    pub fn clean(&self) -> Result<()> {
        for name in self.outputs_present()? {
            fs::remove_file(self.path().join(name))?;
        }
        let report = self.report_path();
        if report.exists() {
            fs::remove_file(report)?;
        }
        Ok(())
    }

    /// Compares the outputs with `expected/`: every expected file must be
    /// there with exactly its content, and no other output may be. Returns
    /// one line per problem; empty means all correct.
    pub fn check_outputs(&self) -> Result<Vec<String>> {
        let mut present = self.outputs_present()?;
        let mut problems = Vec::new();
        for (name, want) in &self.expected {
            present.remove(name);
            match fs::read(self.path().join(name)) {
                Err(_) => problems.push(format!("{name}: missing")),
                Ok(got) if got != want.as_bytes() => problems.push(format!(
                    "{name}: differs from expected/{name} ({} bytes, expected {})",
                    got.len(),
                    want.len()
                )),
                Ok(_) => {}
            }
        }
        problems.extend(
            present
                .into_iter()
                .map(|name| format!("{name}: unexpected")),
        );
        Ok(problems)
    }

    fn outputs_present(&self) -> Result<BTreeSet<String>> {
        let mut names = BTreeSet::new();
        for entry in fs::read_dir(self.path())? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(OUTPUT_PREFIX) && entry.file_type()?.is_file() {
                names.insert(name);
            }
        }
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mpitorrent_core::shapes;

    #[test]
    fn finds_missing_wrong_and_unexpected_outputs() {
        let scenario = shapes::by_name("two-and-one").unwrap().scenario;
        let dir = SwarmDir::create(&scenario).unwrap();
        assert!(dir.path().join("in3.txt").is_file());
        let problems = dir.check_outputs().unwrap();
        assert_eq!(problems.len(), dir.expected.len(), "{problems:?}");
        assert!(problems.iter().all(|p| p.ends_with("missing")));

        for (name, content) in &dir.expected {
            fs::copy(
                dir.path().join(EXPECTED_DIR).join(name),
                dir.path().join(name),
            )
            .unwrap();
            assert!(!content.is_empty());
        }
        assert!(dir.check_outputs().unwrap().is_empty());

        let (first, _) = &dir.expected[0];
        fs::write(dir.path().join(first), "wrong\n").unwrap();
        fs::write(dir.path().join("client9_extra"), "").unwrap();
        let problems = dir.check_outputs().unwrap();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("differs"));
        assert!(problems[1].contains("client9_extra: unexpected"));

        dir.clean().unwrap();
        assert!(dir.outputs_present().unwrap().is_empty());
    }
}
