//! Named scenarios: the classic shapes of the assignment's tests (3 to 6
//! peers, files of 30 to 100 segments) and the larger shapes the benchmark
//! uses. Tests, `mpitorrent gen --shape` and the benchmark all take them
//! from here, so "the fan-out shape" means one thing everywhere.

use crate::classic::{OwnedFile, PeerInput};
use crate::scenario::{random_hash, Scenario, ScenarioParams};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// A scenario with a name and a line saying what it is.
#[derive(Clone, Debug)]
pub struct Shape {
    pub name: &'static str,
    pub description: &'static str,
    pub scenario: Scenario,
}

/// Every named shape: the classic ones first, then the large ones.
pub fn all() -> Vec<Shape> {
    let mut shapes = classic();
    shapes.extend(large());
    shapes
}

/// The shape called `name`, if there is one.
pub fn by_name(name: &str) -> Option<Shape> {
    all().into_iter().find(|s| s.name == name)
}

/// The classic test shapes, at their classic sizes.
pub fn classic() -> Vec<Shape> {
    let mut files = Files::new(1);
    let (f1, f2, f3) = (
        files.make("file1", 40),
        files.make("file2", 30),
        files.make("file3", 50),
    );
    let two_and_one = vec![
        peer(&[&f1, &f2], &["file3"]),
        peer(&[&f3], &["file1"]),
        peer(&[], &["file1", "file2", "file3"]),
    ];

    let mut files = Files::new(2);
    let seven: Vec<OwnedFile> = [30, 45, 60, 75, 90, 100, 35]
        .iter()
        .enumerate()
        .map(|(i, &n)| files.make(&format!("file{}", i + 1), n))
        .collect();
    let f = |i: usize| &seven[i - 1];
    let five_trade_seven = vec![
        peer(&[f(1), f(2)], &["file3", "file5", "file7"]),
        peer(&[f(2), f(3)], &["file1", "file4"]),
        peer(&[f(4), f(5)], &["file1", "file2", "file6"]),
        peer(&[f(5), f(6), f(7)], &["file3", "file4"]),
        peer(&[f(1), f(6)], &["file2", "file5", "file7"]),
    ];

    let mut files = Files::new(3);
    let (a, b) = (files.make("file1", 60), files.make("file2", 45));
    let owning_nothing = vec![
        peer(&[&a, &b], &[]),
        peer(&[], &["file1", "file2"]),
        peer(&[], &["file1", "file2"]),
        peer(&[], &["file2"]),
    ];

    let mut files = Files::new(4);
    let big = files.make("file1", 100);
    let two_seeds = vec![
        peer(&[&big], &[]),
        peer(&[&big], &[]),
        peer(&[], &["file1"]),
        peer(&[], &["file1"]),
        peer(&[], &["file1"]),
        peer(&[], &["file1"]),
    ];

    let mut files = Files::new(5);
    let (a, b, c) = (
        files.make("file1", 50),
        files.make("file2", 35),
        files.make("file3", 70),
    );
    let wanting_nothing = vec![
        peer(&[&a], &["file2"]),
        peer(&[&b], &[]),
        peer(&[&c], &[]),
        peer(&[], &["file1", "file3"]),
    ];

    vec![
        shape(
            "two-and-one",
            "one peer owns two files, another a third; a third peer wants everything",
            two_and_one,
        ),
        shape(
            "five-trade-seven",
            "five peers trade seven files with overlapping owners",
            five_trade_seven,
        ),
        shape(
            "owning-nothing",
            "one peer owns everything, three own nothing and download",
            owning_nothing,
        ),
        shape(
            "two-seeds-four-leechers",
            "two seeds of one 100-segment file, four leechers",
            two_seeds,
        ),
        shape(
            "wanting-nothing",
            "peers that want nothing keep serving until the end",
            wanting_nothing,
        ),
    ]
}

/// The larger shapes of the benchmark.
pub fn large() -> Vec<Shape> {
    let generated =
        |params: ScenarioParams| Scenario::generate(&params).expect("fixed parameters are valid");
    let large = generated(ScenarioParams {
        ranks: 16,
        files: 20,
        segments: 2000,
        seeds_per_file: 1,
        wanters_per_file: 8,
        seed: 16,
    });
    let mut files = Files::new(6);
    let file = files.make("file1", 5000);
    let mut fan_out = vec![peer(&[&file], &[]), peer(&[&file], &[])];
    fan_out.extend((0..14).map(|_| peer(&[], &["file1"])));

    let mut files = Files::new(7);
    let owned: Vec<OwnedFile> = (1..=12)
        .map(|i| files.make(&format!("file{i}"), 1000))
        .collect();
    let all_to_all = owned
        .iter()
        .map(|mine| {
            let others: Vec<&str> = owned
                .iter()
                .filter(|f| f.name != mine.name)
                .map(|f| f.name.as_str())
                .collect();
            peer(&[mine], &others)
        })
        .collect();
    vec![
        Shape {
            name: "large",
            description: "16 ranks, 20 files of 2,000 segments, each wanted by 8 peers",
            scenario: large,
        },
        shape(
            "fan-out",
            "2 seeds of one 5,000-segment file, 14 leechers",
            fan_out,
        ),
        shape(
            "all-to-all",
            "12 peers each own one 1,000-segment file and want all the others",
            all_to_all,
        ),
    ]
}

fn shape(name: &'static str, description: &'static str, inputs: Vec<PeerInput>) -> Shape {
    Shape {
        name,
        description,
        scenario: Scenario::from_inputs(inputs),
    }
}

fn peer(owned: &[&OwnedFile], wanted: &[&str]) -> PeerInput {
    PeerInput {
        owned: owned.iter().map(|f| (*f).clone()).collect(),
        wanted: wanted.iter().map(|w| w.to_string()).collect(),
    }
}

/// Makes files with reproducible random hashes.
struct Files(ChaCha8Rng);

impl Files {
    fn new(seed: u64) -> Self {
        Files(ChaCha8Rng::seed_from_u64(seed))
    }

    fn make(&mut self, name: &str, segments: usize) -> OwnedFile {
        OwnedFile {
            name: name.into(),
            hashes: (0..segments).map(|_| random_hash(&mut self.0)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_have_unique_names_and_outputs() {
        let shapes = all();
        let mut names: Vec<_> = shapes.iter().map(|s| s.name).collect();
        names.dedup();
        assert_eq!(names.len(), 8);
        for shape in &shapes {
            assert!(
                !shape.scenario.expected_outputs().is_empty(),
                "{}",
                shape.name
            );
        }
        assert_eq!(by_name("fan-out").unwrap().scenario.ranks(), 17);
        assert_eq!(
            by_name("all-to-all")
                .unwrap()
                .scenario
                .expected_outputs()
                .len(),
            132
        );
        assert!(by_name("nope").is_none());
    }

    #[test]
    fn classic_shapes_are_classic_sized() {
        for shape in classic() {
            let peers = shape.scenario.ranks() - 1;
            assert!((3..=6).contains(&peers), "{}: {peers} peers", shape.name);
            for (_, input) in shape.scenario.peers() {
                for file in &input.owned {
                    assert!((30..=100).contains(&file.hashes.len()), "{}", shape.name);
                }
            }
        }
    }
}
