//! Every output exact: what each peer must complete, and with what.

use mpitorrent_core::holdings::HeldFile;
use mpitorrent_core::scenario::Scenario;
use mpitorrent_core::Rank;
use std::collections::{BTreeMap, BTreeSet};

/// The files each peer must complete and their exact hashes (its own copy
/// for a file it owns, the owners' otherwise), and those not completed yet.
#[derive(Clone, Debug)]
pub struct Outputs<'a> {
    /// (rank, file name) -> the hashes its output must list.
    expected: BTreeMap<(Rank, &'a str), &'a [String]>,
    /// Expected outputs not completed yet, in rank order.
    missing: BTreeSet<(Rank, &'a str)>,
}

impl<'a> Outputs<'a> {
    /// What `scenario`'s peers must produce. A wanted file nobody owns has
    /// no expected output (the tracker aborts such a job).
    pub fn new(scenario: &'a Scenario) -> Outputs<'a> {
        // Each file's hashes as its first owner lists them (as
        // `Scenario::hashes_of` says), gathered once: at 10,000 peers a
        // scan of every input per wanted file would dominate the set-up.
        let mut owned: BTreeMap<&str, &[String]> = BTreeMap::new();
        for file in scenario.inputs.iter().flat_map(|input| &input.owned) {
            owned.entry(file.name.as_str()).or_insert(&file.hashes[..]);
        }
        let mut expected = BTreeMap::new();
        for (rank, input) in scenario.peers() {
            for name in &input.wanted {
                let own = input.owned.iter().find(|file| &file.name == name);
                let hashes = own.map(|file| file.hashes.as_slice());
                if let Some(hashes) = hashes.or_else(|| owned.get(name.as_str()).copied()) {
                    expected.insert((rank, name.as_str()), hashes);
                }
            }
        }
        let missing = expected.keys().copied().collect();
        Outputs { expected, missing }
    }

    /// `rank` reports `file` completed: it must be complete, wanted, not
    /// completed before, and hold exactly the expected hashes.
    pub fn complete(&mut self, rank: Rank, file: &HeldFile) -> Result<(), String> {
        let name = file.name.as_str();
        // Found among `rank`'s entries rather than by key, so that the key
        // kept is the scenario's name (a map's lookup key would have to
        // live as long as the scenario).
        let found = self
            .expected
            .range((rank, "")..)
            .take_while(|((r, _), _)| *r == rank)
            .find(|((_, n), _)| *n == name);
        let Some((&key, &hashes)) = found else {
            return Err(format!(
                "rank {rank} completed '{name}', which it did not want"
            ));
        };
        if !file.is_complete() || hashes != &file.hashes[..] {
            return Err(format!(
                "rank {rank} completed '{name}' with the wrong contents"
            ));
        }
        if !self.missing.remove(&key) {
            return Err(format!("rank {rank} completed '{name}' twice"));
        }
        Ok(())
    }

    /// Every expected output was produced.
    pub fn check_all_done(&self) -> Result<(), String> {
        match self.missing.iter().next() {
            None => Ok(()),
            Some((rank, name)) => Err(format!(
                "the job ended but rank {rank} never completed '{name}' ({} output(s) missing)",
                self.missing.len()
            )),
        }
    }

    /// The files `rank` has not completed yet.
    pub fn missing_of(&self, rank: Rank) -> impl Iterator<Item = &'a str> + '_ {
        self.missing
            .range((rank, "")..)
            .take_while(move |(r, _)| *r == rank)
            .map(|&(_, name)| name)
    }

    /// How many outputs were completed so far.
    pub fn completed(&self) -> usize {
        self.expected.len() - self.missing.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mpitorrent_core::classic::{OwnedFile, PeerInput};
    use mpitorrent_core::holdings::Holdings;
    use mpitorrent_core::FileId;

    fn hashes(n: u32) -> Vec<String> {
        (0..n).map(|i| format!("h{i}")).collect()
    }

    #[test]
    fn only_a_wanted_file_complete_with_its_hashes_once_is_an_output() {
        let owner = PeerInput {
            owned: vec![OwnedFile {
                name: "f".into(),
                hashes: hashes(3),
            }],
            wanted: vec![],
        };
        let leecher = PeerInput {
            owned: vec![],
            wanted: vec!["f".into()],
        };
        let scenario = Scenario::from_inputs(vec![owner, leecher]);
        let mut outputs = Outputs::new(&scenario);
        let holdings = Holdings::new();
        let right = holdings.add_complete(FileId(0), "f".into(), hashes(3));
        let wrong = holdings.add_complete(FileId(1), "f".into(), hashes(2));
        let partial = holdings.add_empty(FileId(2), "f".into(), hashes(3));
        assert!(outputs
            .check_all_done()
            .unwrap_err()
            .contains("rank 2 never completed 'f'"));
        let refused = [
            (Rank(1), &right, "did not want"),
            (Rank(2), &wrong, "wrong contents"),
            (Rank(2), &partial, "wrong contents"),
        ];
        for (rank, file, why) in refused {
            let err = outputs.complete(rank, file).unwrap_err();
            assert!(err.contains(why), "rank {rank}, file {}: {err}", file.id);
        }
        assert_eq!(outputs.missing_of(Rank(2)).collect::<Vec<_>>(), ["f"]);
        outputs.complete(Rank(2), &right).unwrap();
        assert_eq!(outputs.completed(), 1);
        outputs.check_all_done().unwrap();
        assert!(outputs
            .complete(Rank(2), &right)
            .unwrap_err()
            .contains("twice"));
    }
}
