//! Baselines through the whole suite, against scripted servers with known speeds:
//! `--save-baseline`, then `--baseline` with the same server (A/A) and with a slower one.

mod support;

use quantbench::compare::{Method, Verdict};
use quantbench::suite::RunOutcome;
use support::*;

fn one_model(dir: &std::path::Path, url: &str) -> quantbench::config::Config {
    let body = format!(
        r#"
        [run]
        samples = 12
        warmup = 1
        languages = ["en"]
        categories = ["short"]
        max_tokens_cap = 20
        [models.m]
        endpoint = {{ url = "{url}", kind = "openai" }}
        quants.q = {{ model_id = "m" }}
        "#
    );
    config(dir, &body)
}

/// A server whose tokens come every `gap_us` microseconds, with ±3 % deterministic jitter per request.
fn server(gap_us: u64) -> ScriptedServer {
    ScriptedServer::start(move |n| {
        let jitter = 1.0 + 0.03 * (((n * 7919) % 21) as f64 / 10.0 - 1.0);
        let gap = std::time::Duration::from_micros((gap_us as f64 * jitter) as u64);
        Script::ok(answer(ms(5), gap, 20, Some((10, 20)), "length"))
    })
}

fn run(root: &std::path::Path, url: &str, flags: &str) -> anyhow::Result<RunOutcome> {
    run_suite(root, &one_model(root, url), &format!("--bench m/q/short {flags}"))
}

fn verdict_of(outcome: &RunOutcome, metric: &str) -> Verdict {
    outcome
        .comparisons
        .as_ref()
        .unwrap()
        .iter()
        .find(|c| c.metric == metric)
        .unwrap()
        .verdict
}

#[test]
fn save_compare_and_detect_a_slower_decode() {
    let tmp = tempfile::tempdir().unwrap();
    let fast = server(3000);
    let first = run(tmp.path(), &fast.url, "--save-baseline before").unwrap();
    assert!(first.comparisons.is_none(), "nothing to compare with yet");
    assert!(tmp.path().join("reports/baselines/before/generations.jsonl").is_file());

    // A/A: the same server again.
    let again = run(tmp.path(), &fast.url, "--baseline before").unwrap();
    for c in again.comparisons.as_ref().unwrap() {
        assert!(
            !matches!(c.verdict, Verdict::Regressed | Verdict::Improved),
            "A/A alarm: {c:?}"
        );
    }
    assert_eq!(verdict_of(&again, "decode_rate"), Verdict::Unchanged);

    // Tokens 30 % further apart: decode rate regressed by about 23 %.
    let slow = server(3900);
    let slower = run(tmp.path(), &slow.url, "--baseline before").unwrap();
    let decode = slower
        .comparisons
        .as_ref()
        .unwrap()
        .iter()
        .find(|c| c.metric == "decode_rate")
        .unwrap();
    assert_eq!(decode.verdict, Verdict::Regressed, "{decode:?}");
    assert!((decode.ratio - 1.0 / 1.3).abs() < 0.05, "{decode:?}");
    assert_eq!(verdict_of(&slower, "e2e_s"), Verdict::Regressed);
    let comparison = std::fs::read_to_string(slower.run_dir.unwrap().join("comparison.json")).unwrap();
    assert!(comparison.contains("\"regressed\""));
}

#[test]
fn a_missing_baseline_is_a_clear_error_before_measuring() {
    let tmp = tempfile::tempdir().unwrap();
    let s = server(1000);
    let err = format!("{:#}", run(tmp.path(), &s.url, "--baseline nope").unwrap_err());
    assert!(
        err.contains("baseline \"nope\" not found") && err.contains("--save-baseline nope"),
        "{err}"
    );
    assert_eq!(s.requests.load(std::sync::atomic::Ordering::SeqCst), 0);
    // Lenient: runs, without a comparison.
    let outcome = run(tmp.path(), &s.url, "--baseline-lenient nope").unwrap();
    assert!(outcome.comparisons.is_none());
}

#[test]
fn several_baseline_runs_put_the_run_to_run_spread_in_the_interval() {
    let tmp = tempfile::tempdir().unwrap();
    let fast = server(3000);
    for i in 0..3 {
        let saved = run(tmp.path(), &fast.url, "--save-baseline multi").unwrap();
        assert_eq!(
            saved.comparisons.is_some(),
            i > 0,
            "from the second save on, the run is compared first"
        );
    }
    let slow = server(3900);
    let outcome = run(tmp.path(), &slow.url, "--baseline multi").unwrap();
    let decode = outcome
        .comparisons
        .as_ref()
        .unwrap()
        .iter()
        .find(|c| c.metric == "decode_rate")
        .unwrap();
    assert_eq!(
        (decode.method, decode.baseline_runs, decode.candidate_runs),
        (Method::BetweenRuns, 3, 1)
    );
    assert_eq!(decode.verdict, Verdict::Regressed, "{decode:?}");

    // A baseline keeps the last five runs of each benchmark.
    for _ in 0..3 {
        run(tmp.path(), &fast.url, "--save-baseline multi").unwrap();
    }
    let kept = quantbench::store::load_baseline(&tmp.path().join("reports"), "multi").unwrap();
    let mut runs: Vec<&str> = kept.iter().map(|r| r.run.as_str()).collect();
    runs.dedup();
    assert_eq!(runs.len(), quantbench::store::BASELINE_RUNS);
}
