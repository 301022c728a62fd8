//! Where a simulated swarm comes from: a folder of classic `in<R>.txt`
//! files, or the one-file broadcast that the lower bound is about.

use mpitorrent_core::classic::{input_file_name, parse_peer_input};
use mpitorrent_core::escape::shown_path;
use mpitorrent_core::scenario::{Scenario, ScenarioParams};
use mpitorrent_core::Rank;
use mpitorrent_fs::bounded::{read_text, PEER_INPUT};
use std::path::Path;

/// Reads `in1.txt`, `in2.txt`, ... from `dir` (up to the first one
/// missing) with the classic parser: rank `R` gets `in<R>.txt`.
pub fn scenario_from_dir(dir: &Path) -> Result<Scenario, String> {
    if !dir.is_dir() {
        return Err(format!("{} is not a folder", shown_path(dir)));
    }
    let mut inputs = Vec::new();
    loop {
        let path = dir.join(input_file_name(Rank(inputs.len() as u32 + 1)));
        if !path.exists() {
            break;
        }
        let text = read_text(&path, PEER_INPUT).map_err(|e| e.to_string())?;
        let input = parse_peer_input(&text).map_err(|e| format!("{}: {e}", shown_path(&path)))?;
        inputs.push(input);
    }
    if inputs.is_empty() {
        return Err(format!(
            "{} holds no in1.txt: a scenario folder has one in<R>.txt per peer",
            shown_path(dir)
        ));
    }
    Ok(Scenario::from_inputs(inputs))
}

/// `peers` peers, `seeds` of which own one file of `segments` segments
/// that every other peer wants (which peers are seeds, and the hashes, come
/// from `seed`).
pub fn broadcast(peers: u32, segments: u32, seeds: u32, seed: u64) -> Result<Scenario, String> {
    if peers == 0 || peers == u32::MAX {
        return Err(format!("a swarm needs 1 to {} peers", u32::MAX - 1));
    }
    if seeds == 0 || seeds > peers {
        return Err(format!(
            "the seeds must be 1 to {peers} (the number of peers), not {seeds}"
        ));
    }
    let params = ScenarioParams {
        ranks: peers + 1,
        files: 1,
        segments,
        seeds_per_file: seeds,
        wanters_per_file: peers - seeds,
        seed,
    };
    Scenario::generate(&params).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mpitorrent_core::classic::render_input;

    #[test]
    fn a_broadcast_has_seeds_and_wanters_of_one_file() {
        let s = broadcast(10, 7, 2, 1).unwrap();
        assert_eq!(s.ranks(), 11);
        let seeds = s.inputs.iter().filter(|i| !i.owned.is_empty()).count();
        let wanters = s.inputs.iter().filter(|i| i.wanted == ["file1"]).count();
        assert_eq!((seeds, wanters), (2, 8));
        assert!(broadcast(3, 7, 4, 1).is_err());
        assert!(broadcast(0, 7, 1, 1).is_err());
    }

    #[test]
    fn reads_a_folder_up_to_the_first_missing_input() {
        let dir = tempfile::tempdir().unwrap();
        let s = broadcast(3, 4, 1, 9).unwrap();
        for (rank, input) in s.peers() {
            std::fs::write(dir.path().join(input_file_name(rank)), render_input(input)).unwrap();
        }
        std::fs::write(dir.path().join("in5.txt"), "garbage").unwrap();
        assert_eq!(scenario_from_dir(dir.path()).unwrap(), s);
        std::fs::write(dir.path().join("in2.txt"), "1\nf x\n").unwrap();
        let err = scenario_from_dir(dir.path()).unwrap_err();
        assert!(err.contains("in2.txt: line 2"), "{err}");
        let empty = tempfile::tempdir().unwrap();
        assert!(scenario_from_dir(empty.path())
            .unwrap_err()
            .contains("no in1.txt"));
    }
}
