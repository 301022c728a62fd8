//! The seeds a generated test runs, from the environment.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_the_variables_every_default_seed_runs() {
        let seeds = seeds_from_env("HARNESS_TEST_UNSET_ONE", "HARNESS_TEST_UNSET_MANY", 3);
        assert_eq!(seeds, [0, 1, 2]);
    }
}
