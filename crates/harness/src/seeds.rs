//! The seeds a generated test runs, from the environment, and the swarm
//! shape each seed draws.

use mpitorrent_core::scenario::ScenarioParams;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Seeds `0..default`; `<one>=<n>` runs only seed n (to replay a failure)
/// and `<many>=<n>` runs `0..n` (for a longer soak). Panics on a value that
/// is not a number: a test run with a mistyped replay must not silently
/// run something else.
pub fn seeds_from_env(one: &str, many: &str, default: u64) -> Vec<u64> {
    let var = |name: &str| {
        std::env::var(name).ok().map(|v| {
            v.parse::<u64>()
                .unwrap_or_else(|_| panic!("{name} is not a number: {v}"))
        })
    };
    match (var(one), var(many)) {
        (Some(seed), _) => vec![seed],
        (None, Some(count)) => (0..count).collect(),
        (None, None) => (0..default).collect(),
    }
}

/// The swarm shape of a generated seed: ranks 2..=12, files 1..=6,
/// segments 0..=60, seeds 1..=3, wanters 0..=5, drawn on `stream` of the
/// seed's RNG so that it does not repeat the scenario's own draws (each
/// test keeps its own stream, so the seeds printed by its old runs still
/// replay). Returns the RNG too, for a test that draws more settings.
pub fn draw_shape(seed: u64, stream: u64) -> (ScenarioParams, ChaCha8Rng) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    let params = ScenarioParams {
        ranks: rng.gen_range(2..=12),
        files: rng.gen_range(1..=6),
        segments: rng.gen_range(0..=60),
        seeds_per_file: rng.gen_range(1..=3),
        wanters_per_file: rng.gen_range(0..=5),
        seed,
    };
    (params, rng)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_the_variables_every_default_seed_runs() {
        let seeds = seeds_from_env("HARNESS_TEST_UNSET_ONE", "HARNESS_TEST_UNSET_MANY", 3);
        assert_eq!(seeds, [0, 1, 2]);
    }

    #[test]
    fn a_shape_depends_on_its_seed_and_stream_only() {
        let (a, _) = draw_shape(5, 1);
        assert_eq!(draw_shape(5, 1).0, a);
        assert_eq!(a.seed, 5);
        assert!((2..=12).contains(&a.ranks) && (1..=6).contains(&a.files));
        let shapes: Vec<ScenarioParams> = (0..20).map(|s| draw_shape(s, 3).0).collect();
        assert!(
            shapes.iter().any(|s| s.ranks != shapes[0].ranks),
            "{shapes:?}"
        );
    }
}
