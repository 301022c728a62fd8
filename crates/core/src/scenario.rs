//! Reproducible swarm scenarios: every peer's input and every output the
//! swarm must produce, as plain data.
//!
//! A [`Scenario`] is the list of [`PeerInput`]s of ranks `1..N` (rank 0 is
//! the tracker and has no input). It is either written by hand
//! ([`Scenario::from_inputs`]) or generated from [`ScenarioParams`] with a
//! seeded RNG ([`Scenario::generate`]): the same parameters always give
//! byte-identical inputs, so a failing seed printed by a test can be replayed
//! anywhere.
//!
//! From the inputs alone the scenario knows what a correct run writes
//! ([`Scenario::expected_outputs`]): for every peer and every file it wants,
//! the file's hashes in order. [`Scenario::files`] lays both out as relative
//! paths and contents (`in<R>.txt`, `expected/client<R>_<file>`) for a driver
//! or a script to write; this module itself never touches the filesystem.

use crate::classic::{
    input_file_name, output_file_name, render_input, render_output, OwnedFile, PeerInput,
};
use crate::Rank;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::fmt;

/// What to generate: the shape of the swarm and the RNG seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioParams {
    /// MPI ranks including the tracker (peers are `ranks - 1`); at least 2.
    pub ranks: u32,
    /// Distinct files in the swarm, named `file1` ..= `file<files>`.
    pub files: u32,
    /// Segments per file (every file has this many; 0 is allowed).
    pub segments: u32,
    /// How many peers own each file from the start (at least 1, clamped to
    /// the number of peers).
    pub seeds_per_file: u32,
    /// How many peers that do not own a file want it (clamped to the peers
    /// left once the seeds are chosen).
    pub wanters_per_file: u32,
    /// The seed of the [`ChaCha8Rng`] that picks hashes, owners and wanters.
    pub seed: u64,
}

impl ScenarioParams {
    /// `ranks` with the tracker, `files` of `segments` each, `seeds` owners
    /// and `wanters` wanters per file, drawn from `seed`.
    pub fn new(ranks: u32, files: u32, segments: u32, seeds: u32, wanters: u32, seed: u64) -> Self {
        ScenarioParams {
            ranks,
            files,
            segments,
            seeds_per_file: seeds,
            wanters_per_file: wanters,
            seed,
        }
    }
}

/// Parameters in one line, for test names and failure messages.
impl fmt::Display for ScenarioParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ranks={} files={} segments={} seeds_per_file={} wanters_per_file={} seed={}",
            self.ranks,
            self.files,
            self.segments,
            self.seeds_per_file,
            self.wanters_per_file,
            self.seed
        )
    }
}

/// Parameters that cannot describe a swarm.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScenarioError {
    #[error("a swarm needs at least 2 ranks (the tracker and one peer), but ranks is {ranks}")]
    TooFewRanks { ranks: u32 },
    #[error("seeds_per_file is 0: every file needs at least one owner at the start")]
    NoSeeds,
}

/// Every peer's input. `inputs[0]` is rank 1, `inputs[r - 1]` is rank `r`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    pub inputs: Vec<PeerInput>,
}

/// One output file a correct run writes: `client<rank>_<file>` with `content`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ExpectedOutput {
    pub rank: Rank,
    pub file: String,
    /// The file's hashes in segment order, as [`render_output`] writes them.
    pub content: String,
}

impl Scenario {
    /// Generates a scenario from `params`; the same params give the same
    /// scenario, byte for byte.
    ///
    /// For each file in turn (`file1` first) the RNG draws its segment hashes
    /// (32 lowercase hex characters each), then its owners uniformly among
    /// all peers, then its wanters uniformly among the peers that do not own
    /// it. Each peer lists its owned and wanted files in file-number order.
    pub fn generate(params: &ScenarioParams) -> Result<Scenario, ScenarioError> {
        if params.ranks < 2 {
            return Err(ScenarioError::TooFewRanks {
                ranks: params.ranks,
            });
        }
        if params.seeds_per_file == 0 {
            return Err(ScenarioError::NoSeeds);
        }
        let peers = (params.ranks - 1) as usize;
        let seeds = (params.seeds_per_file as usize).min(peers);
        let wanters = (params.wanters_per_file as usize).min(peers - seeds);
        let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
        let mut inputs = vec![PeerInput::default(); peers];
        for number in 1..=params.files {
            let name = format!("file{number}");
            let hashes: Vec<String> = (0..params.segments)
                .map(|_| random_hash(&mut rng))
                .collect();
            let (owners, others) = split_random(&mut rng, (0..peers).collect(), seeds);
            for &peer in &owners {
                inputs[peer].owned.push(OwnedFile {
                    name: name.clone(),
                    hashes: hashes.clone(),
                });
            }
            let (wanting, _) = split_random(&mut rng, others, wanters);
            for &peer in &wanting {
                inputs[peer].wanted.push(name.clone());
            }
        }
        Ok(Scenario { inputs })
    }

    /// A scenario from hand-written inputs (`inputs[0]` is rank 1).
    pub fn from_inputs(inputs: Vec<PeerInput>) -> Scenario {
        Scenario { inputs }
    }

    /// Ranks in the job, the tracker included.
    pub fn ranks(&self) -> u32 {
        self.inputs.len() as u32 + 1
    }

    /// The peers' ranks with their inputs, rank 1 first.
    pub fn peers(&self) -> impl Iterator<Item = (Rank, &PeerInput)> {
        self.inputs
            .iter()
            .enumerate()
            .map(|(index, input)| (Rank(index as u32 + 1), input))
    }

    /// The hashes of file `name` as the first peer (by rank) that owns it
    /// lists them, or `None` if no peer owns it.
    pub fn hashes_of(&self, name: &str) -> Option<&[String]> {
        self.inputs
            .iter()
            .flat_map(|input| &input.owned)
            .find(|file| file.name == name)
            .map(|file| file.hashes.as_slice())
    }

    /// Every output a correct run writes: for every peer (by rank) and
    /// every file it wants (in its input's order), the file's hashes taken
    /// from an owner's listing (its own, if it owns the file).
    ///
    /// A wanted file that nobody owns has no expected output: the tracker
    /// aborts such a job before any download.
    pub fn expected_outputs(&self) -> Vec<ExpectedOutput> {
        let mut outputs = Vec::new();
        for (rank, input) in self.peers() {
            for name in &input.wanted {
                let own = input.owned.iter().find(|file| &file.name == name);
                let hashes = own.map(|file| file.hashes.as_slice());
                if let Some(hashes) = hashes.or_else(|| self.hashes_of(name)) {
                    outputs.push(ExpectedOutput {
                        rank,
                        file: name.clone(),
                        content: render_output(hashes),
                    });
                }
            }
        }
        outputs
    }

    /// The scenario as files: `in<R>.txt` for every peer, then
    /// `expected/client<R>_<file>` for every expected output, as relative
    /// paths and contents (the caller decides where to write them).
    pub fn files(&self) -> Vec<(String, String)> {
        let inputs = self
            .peers()
            .map(|(rank, input)| (input_file_name(rank), render_input(input)));
        let outputs = self.expected_outputs().into_iter().map(|out| {
            let path = format!("expected/{}", output_file_name(out.rank, &out.file));
            (path, out.content)
        });
        inputs.chain(outputs).collect()
    }
}

/// A segment hash: 32 lowercase hex characters.
pub(crate) fn random_hash(rng: &mut ChaCha8Rng) -> String {
    format!("{:032x}", rng.gen::<u128>())
}

/// Picks `count` of `items` uniformly at random; returns the picked ones and
/// the rest, each in their original order.
fn split_random(rng: &mut ChaCha8Rng, items: Vec<usize>, count: usize) -> (Vec<usize>, Vec<usize>) {
    let mut picked = vec![false; items.len()];
    for index in rand::seq::index::sample(rng, items.len(), count) {
        picked[index] = true;
    }
    let (chosen, rest): (Vec<_>, Vec<_>) = items
        .into_iter()
        .zip(picked)
        .partition(|&(_, is_picked)| is_picked);
    let strip = |pairs: Vec<(usize, bool)>| pairs.into_iter().map(|(item, _)| item).collect();
    (strip(chosen), strip(rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classic::parse_peer_input;
    use std::collections::HashSet;

    fn params(ranks: u32, files: u32, segments: u32, seeds: u32, wanters: u32) -> ScenarioParams {
        ScenarioParams::new(ranks, files, segments, seeds, wanters, 7)
    }

    fn owners_of(scenario: &Scenario, name: &str) -> Vec<Rank> {
        scenario
            .peers()
            .filter(|(_, input)| input.owned.iter().any(|f| f.name == name))
            .map(|(rank, _)| rank)
            .collect()
    }

    fn wanters_of(scenario: &Scenario, name: &str) -> Vec<Rank> {
        scenario
            .peers()
            .filter(|(_, input)| input.wanted.iter().any(|w| w == name))
            .map(|(rank, _)| rank)
            .collect()
    }

    #[test]
    fn same_params_give_identical_scenarios() {
        let p = params(9, 5, 13, 2, 3);
        let a = Scenario::generate(&p).unwrap();
        let b = Scenario::generate(&p).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.files(), b.files());
        let other = Scenario::generate(&ScenarioParams { seed: 8, ..p }).unwrap();
        assert_ne!(
            a.files(),
            other.files(),
            "a different seed changes the scenario"
        );
    }

    #[test]
    fn counts_are_respected() {
        let p = params(8, 6, 11, 2, 3);
        let s = Scenario::generate(&p).unwrap();
        assert_eq!(s.ranks(), 8);
        assert_eq!(s.inputs.len(), 7);
        for number in 1..=6 {
            let name = format!("file{number}");
            let owners = owners_of(&s, &name);
            let wanters = wanters_of(&s, &name);
            assert_eq!(owners.len(), 2, "{name}");
            assert_eq!(wanters.len(), 3, "{name}");
            assert!(wanters.iter().all(|w| !owners.contains(w)), "{name}");
            let hashes = s.hashes_of(&name).unwrap();
            assert_eq!(hashes.len(), 11);
            for hash in hashes {
                assert_eq!(hash.len(), 32);
                assert!(
                    hash.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')),
                    "{hash}"
                );
            }
        }
        let distinct: HashSet<_> = (1..=6)
            .flat_map(|n| s.hashes_of(&format!("file{n}")).unwrap().to_vec())
            .collect();
        assert!(distinct.len() > 60, "hashes look random");
    }

    #[test]
    fn files_are_listed_in_number_order() {
        let s = Scenario::generate(&params(4, 12, 1, 2, 1)).unwrap();
        let number = |name: &str| name["file".len()..].parse::<u32>().unwrap();
        for input in &s.inputs {
            let owned: Vec<u32> = input.owned.iter().map(|f| number(&f.name)).collect();
            let wanted: Vec<u32> = input.wanted.iter().map(|w| number(w)).collect();
            assert!(owned.windows(2).all(|w| w[0] < w[1]), "{owned:?}");
            assert!(wanted.windows(2).all(|w| w[0] < w[1]), "{wanted:?}");
        }
    }

    #[test]
    fn seeds_and_wanters_are_clamped() {
        let s = Scenario::generate(&params(4, 3, 2, 10, 10)).unwrap();
        for input in &s.inputs {
            assert_eq!(input.owned.len(), 3, "all 3 peers seed every file");
            assert!(input.wanted.is_empty(), "nobody is left to want");
        }
        let s = Scenario::generate(&params(5, 3, 2, 3, 10)).unwrap();
        for number in 1..=3 {
            let name = format!("file{number}");
            assert_eq!(owners_of(&s, &name).len(), 3);
            assert_eq!(wanters_of(&s, &name).len(), 1, "4 peers - 3 seeds");
        }
    }

    #[test]
    fn small_and_empty_shapes_work() {
        let s = Scenario::generate(&params(2, 2, 0, 1, 1)).unwrap();
        assert_eq!(s.inputs.len(), 1);
        assert_eq!(s.inputs[0].owned.len(), 2);
        assert!(s.inputs[0].owned.iter().all(|f| f.hashes.is_empty()));
        assert!(s.expected_outputs().is_empty());
        let s = Scenario::generate(&params(3, 0, 5, 1, 1)).unwrap();
        assert_eq!(s.inputs, vec![PeerInput::default(); 2]);
    }

    #[test]
    fn expected_outputs_hold_an_owners_hashes() {
        let s = Scenario::generate(&params(7, 4, 5, 1, 2)).unwrap();
        let outputs = s.expected_outputs();
        assert_eq!(outputs.len(), 8, "4 files x 2 wanters");
        let mut sorted = outputs.clone();
        sorted.sort_by_key(|o| o.rank);
        assert_eq!(outputs, sorted, "by rank first");
        for out in &outputs {
            let owner = owners_of(&s, &out.file)[0];
            let listing = s.inputs[owner.index() - 1]
                .owned
                .iter()
                .find(|f| f.name == out.file)
                .unwrap();
            assert_eq!(out.content, render_output(&listing.hashes));
            assert!(s.inputs[out.rank.index() - 1].wanted.contains(&out.file));
        }
    }

    #[test]
    fn expected_outputs_of_hand_written_inputs() {
        let own = |name: &str, hashes: &[&str]| OwnedFile {
            name: name.into(),
            hashes: hashes.iter().map(|h| h.to_string()).collect(),
        };
        let s = Scenario::from_inputs(vec![
            PeerInput {
                owned: vec![own("a", &["a1", "a2"])],
                wanted: vec!["b".into(), "a".into()],
            },
            PeerInput {
                owned: vec![own("b", &["b1"])],
                wanted: vec!["ghost".into()],
            },
        ]);
        assert_eq!(s.ranks(), 3);
        let expected = vec![
            ExpectedOutput {
                rank: Rank(1),
                file: "b".into(),
                content: "b1\n".into(),
            },
            ExpectedOutput {
                rank: Rank(1),
                file: "a".into(),
                content: "a1\na2\n".into(),
            },
        ];
        assert_eq!(s.expected_outputs(), expected, "nobody owns 'ghost'");
        let files = s.files();
        let paths: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "in1.txt",
                "in2.txt",
                "expected/client1_b",
                "expected/client1_a"
            ]
        );
        assert_eq!(files[0].1, "1\na 2\na1\na2\n2\nb\na\n");
        assert_eq!(files[3].1, "a1\na2\n");
    }

    #[test]
    fn generated_inputs_parse_back() {
        for seed in 0..20 {
            let p = ScenarioParams {
                seed,
                ..params(
                    2 + (seed % 7) as u32,
                    1 + (seed % 4) as u32,
                    (seed % 5) as u32,
                    2,
                    2,
                )
            };
            let s = Scenario::generate(&p).unwrap();
            for (rank, input) in s.peers() {
                let text = render_input(input);
                let parsed = parse_peer_input(&text)
                    .unwrap_or_else(|e| panic!("{p}: rank {rank}: {e}\n{text}"));
                assert_eq!(&parsed, input, "{p}: rank {rank}");
            }
        }
    }

    #[test]
    fn invalid_params_are_errors() {
        for ranks in [0, 1] {
            let err = Scenario::generate(&params(ranks, 1, 1, 1, 1)).unwrap_err();
            assert_eq!(err, ScenarioError::TooFewRanks { ranks });
            assert!(err.to_string().contains("at least 2 ranks"), "{err}");
        }
        let err = Scenario::generate(&params(3, 1, 1, 0, 1)).unwrap_err();
        assert_eq!(err, ScenarioError::NoSeeds);
        assert!(err.to_string().contains("seeds_per_file"), "{err}");
    }

    /// Seeds printed by old test runs must keep replaying: a change here
    /// means the generator (or its RNG) changed, and should be deliberate.
    #[test]
    fn generation_is_pinned() {
        let p = ScenarioParams {
            seed: 42,
            ..params(3, 2, 2, 1, 1)
        };
        let files = Scenario::generate(&p).unwrap().files();
        let pinned = [
            (
                "in1.txt",
                "1\nfile2 2\n4edbbf01508713142663b45ba45d829e\n\
                 c5708f62a0ce0c00cdca9b0d2a122884\n1\nfile1\n",
            ),
            (
                "in2.txt",
                "1\nfile1 2\nf3453fc625799188ae90bfb5395d5ba1\n\
                 a09ab2f9581667526d71b708c5b6538c\n1\nfile2\n",
            ),
            (
                "expected/client1_file1",
                "f3453fc625799188ae90bfb5395d5ba1\na09ab2f9581667526d71b708c5b6538c\n",
            ),
            (
                "expected/client2_file2",
                "4edbbf01508713142663b45ba45d829e\nc5708f62a0ce0c00cdca9b0d2a122884\n",
            ),
        ];
        let pinned: Vec<(String, String)> = pinned
            .iter()
            .map(|(path, text)| (path.to_string(), text.to_string()))
            .collect();
        assert_eq!(files, pinned);
    }

    #[test]
    fn params_display_names_every_field() {
        let text = params(3, 2, 1, 1, 0).to_string();
        assert_eq!(
            text,
            "ranks=3 files=2 segments=1 seeds_per_file=1 wanters_per_file=0 seed=7"
        );
    }
}
