//! Watching a swarm (issue 6): progress on stderr, logs tagged with rank
//! and role, the run report read back by `mpitorrent report`, and the
//! `--timeline` picture. All on `mpitorrent local`, so no mpirun is needed;
//! stderr is a pipe here, so progress comes as plain lines.

mod common;

use common::*;
use mpitorrent_core::scenario::ScenarioParams;
use std::path::Path;

/// A swarm that runs well under a second.
fn small() -> ScenarioParams {
    ScenarioParams {
        ranks: 5,
        files: 3,
        segments: 200,
        seeds_per_file: 1,
        wanters_per_file: 2,
        seed: 6,
    }
}

/// A swarm that runs for about a second in a debug build (a fifth of one
/// in a release build), long enough for a few progress lines.
fn a_second_long() -> ScenarioParams {
    ScenarioParams {
        ranks: 5,
        files: 2,
        segments: 10_000,
        wanters_per_file: 2,
        ..small()
    }
}

/// Runs `mpitorrent local` on the scenario in `dir` with `args`; returns
/// stdout and stderr of a successful run.
fn local(dir: &Path, ranks: u32, args: &[&str]) -> (String, String) {
    let output = mpitorrent()
        .current_dir(dir)
        .args(["local", "--ranks", &ranks.to_string()])
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).expect("stderr is UTF-8");
    assert!(output.status.success(), "local {args:?} failed:\n{stderr}");
    (String::from_utf8(output.stdout).unwrap(), stderr)
}

/// The first byte that is a control character other than a newline.
fn first_control_character(text: &str) -> Option<(usize, char)> {
    text.char_indices()
        .find(|&(_, c)| c.is_control() && c != '\n')
}

#[test]
fn the_report_command_prints_the_summary_the_run_printed() {
    let (dir, _) = generated(&small());
    // No progress line can come before the summary with this interval.
    let (_, run_stderr) = local(
        dir.path(),
        5,
        &["--report", "run.json", "--progress-interval", "3600"],
    );
    assert!(
        run_stderr.starts_with("mpitorrent: 4 peers downloaded"),
        "{run_stderr}"
    );
    let output = mpitorrent()
        .current_dir(dir.path())
        .args(["report", "run.json"])
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(String::from_utf8(output.stdout).unwrap(), run_stderr);
    assert!(output.stderr.is_empty());
}

#[test]
fn the_report_command_names_a_missing_or_invalid_file() {
    let dir = tempfile::tempdir().unwrap();
    let fails_with = |name: &str, contents: Option<&str>, expected: &str| {
        if let Some(contents) = contents {
            std::fs::write(dir.path().join(name), contents).unwrap();
        }
        let output = mpitorrent()
            .current_dir(dir.path())
            .args(["report", name])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1));
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(
            stderr.starts_with("mpitorrent: error: ") && stderr.contains(expected),
            "{name}: expected '{expected}' in: {stderr}"
        );
    };
    fails_with("gone.json", None, "cannot read gone.json: No such file");
    fails_with(
        "text.json",
        Some("hello"),
        "text.json is not a run report (not JSON)",
    );
    fails_with(
        "future.json",
        Some(r#"{"version": 99}"#),
        "future.json is a version 99 run report, but this mpitorrent reads version 1",
    );
    fails_with(
        "partial.json",
        Some(r#"{"version": 1, "ranks": 3}"#),
        "partial.json is not a valid version 1 run report",
    );
}

#[test]
fn the_timeline_is_an_svg_with_one_line_per_peer_and_the_report_redraws_it() {
    let params = small();
    let (dir, _) = generated(&params);
    local(
        dir.path(),
        params.ranks,
        &["-q", "--report", "run.json", "--timeline", "run.svg"],
    );
    let svg = std::fs::read_to_string(dir.path().join("run.svg")).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
    assert!(svg.trim_end().ends_with("</svg>"));
    // Each peer's line is the one 2-pixel polyline of its series (axes
    // and ticks are 1 pixel wide).
    let series = svg
        .lines()
        .filter(|l| l.starts_with("<polyline") && l.contains(r#"stroke-width="2""#))
        .count();
    assert_eq!(series, params.ranks as usize - 1, "one series per peer");
    assert!(svg.contains("Segments uploaded, from rank (row) to rank (column)"));
    // The picture is drawn from the report alone: `report` draws the same.
    mpitorrent()
        .current_dir(dir.path())
        .args(["report", "run.json", "--timeline", "again.svg"])
        .assert()
        .success();
    let again = std::fs::read_to_string(dir.path().join("again.svg")).unwrap();
    assert!(again == svg, "the report's timeline differs from the run's");
}

#[test]
fn progress_lines_without_a_terminal_are_plain_text() {
    let params = a_second_long();
    let (dir, _) = generated(&params);
    let (stdout, stderr) = local(
        dir.path(),
        params.ranks,
        // 10 ms apart: "a second long" is that in a debug build, a fifth
        // of one in a release build.
        &["--progress-interval", "0.01", "-v"],
    );
    assert!(stdout.is_empty());
    if let Some((at, c)) = first_control_character(&stderr) {
        panic!("control character {c:?} at byte {at} of stderr:\n{stderr}");
    }
    let progress: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("mpitorrent: ") && l.contains(" of 40,000 segments ("))
        .collect();
    assert!(
        progress.len() >= 2,
        "expected progress lines every 10 ms in:\n{stderr}"
    );
    assert!(progress[0].ends_with(" of 4 peers done"), "{}", progress[0]);
}

#[test]
fn quiet_prints_nothing_on_success() {
    let params = a_second_long();
    let (dir, _) = generated(&params);
    let (stdout, stderr) = local(
        dir.path(),
        params.ranks,
        &["-q", "--progress-interval", "0.1"],
    );
    assert_eq!((stdout.as_str(), stderr.as_str()), ("", ""));
}

#[test]
fn verbose_lines_name_the_rank_and_the_role() {
    let params = small();
    let (dir, _) = generated(&params);
    let (_, stderr) = local(dir.path(), params.ranks, &["-v"]);
    for tag in [
        " tracker{rank=0}: ",
        " download{rank=1}: ",
        " upload{rank=1}: ",
        " download{rank=4}: ",
    ] {
        assert!(
            stderr
                .lines()
                .any(|l| l.contains(" INFO ") && l.contains(tag)),
            "no info line tagged '{tag}' in:\n{stderr}"
        );
    }
    // Without -v: warnings only, so nothing but the summary.
    let (_, stderr) = local(dir.path(), params.ranks, &[]);
    assert!(
        stderr.starts_with("mpitorrent: 4 peers downloaded"),
        "{stderr}"
    );
}
