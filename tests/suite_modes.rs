//! Adaptive sampling and paired A/B runs through the whole suite, against scripted servers.

mod support;

use quantbench::store::read_records;
use quantbench::suite::RunOutcome;
use support::*;

fn run(extra_config: &str, a: &str, b: &str, filter: &str) -> (tempfile::TempDir, RunOutcome) {
    let tmp = tempfile::tempdir().unwrap();
    let body = format!(
        r#"
        [run]
        samples = 10
        warmup = 1
        languages = ["en"]
        categories = ["short"]
        max_tokens_cap = 20
        [models.m]
        endpoint = {{ url = "{a}", kind = "openai" }}
        quants.a = {{ model_id = "a" }}
        quants.b = {{ model_id = "b", endpoint = {{ url = "{b}", kind = "openai" }} }}
        {extra_config}
        "#
    );
    let outcome = run_suite(tmp.path(), &config(tmp.path(), &body), &format!("--bench {filter}")).unwrap();
    (tmp, outcome)
}

fn steady(gap_us: u64) -> ScriptedServer {
    ScriptedServer::start(move |_| {
        Script::ok(answer(
            ms(3),
            std::time::Duration::from_micros(gap_us),
            20,
            Some((10, 20)),
            "length",
        ))
    })
}

#[test]
fn adaptive_sampling_stops_at_its_limit_or_its_target_and_says_which() {
    let s = steady(1000);
    let (_tmp, outcome) = run(
        "[models.m.run]\nadaptive_half_width = 0.000001\nadaptive_max_samples = 14",
        &s.url,
        &s.url,
        "^m/a/",
    );
    let b = &outcome.summary.unwrap().benchmarks[0];
    assert_eq!(b.attempted, 14, "criterion's 10, then 4 more");
    assert!(
        b.sampling_stop.as_deref().unwrap().contains("max_samples = 14"),
        "{:?}",
        b.sampling_stop
    );

    let (_tmp, outcome) = run("[models.m.run]\nadaptive_half_width = 0.5", &s.url, &s.url, "^m/a/");
    let b = &outcome.summary.unwrap().benchmarks[0];
    assert_eq!(b.attempted, 10);
    assert!(
        b.sampling_stop.as_deref().unwrap().starts_with("target reached"),
        "{:?}",
        b.sampling_stop
    );
}

#[test]
fn paired_runs_interleave_and_report_the_ratio() {
    // B's tokens come twice as far apart: its decode rate is half of A's.
    let (a, b) = (steady(1000), steady(2000));
    let (_tmp, outcome) = run(
        "[[paired]]\nname = \"ab\"\na = \"m/a\"\nb = \"m/b\"\npairs = 6",
        &a.url,
        &b.url,
        "paired/ab",
    );
    let records = read_records(&outcome.run_dir.unwrap().join("generations.jsonl")).unwrap();
    let order: Vec<(u32, String)> = records
        .iter()
        .filter(|r| !r.warmup)
        .map(|r| r.pair.as_ref().map(|t| (t.index, t.side.clone())).unwrap())
        .collect();
    let expected: Vec<(u32, String)> = (0..6u32)
        .flat_map(|i| {
            if i % 2 == 0 {
                [(i, "a"), (i, "b")]
            } else {
                [(i, "b"), (i, "a")]
            }
        })
        .map(|(i, s)| (i, s.to_string()))
        .collect();
    assert_eq!(order, expected, "A B, B A, A B, …");
    assert_eq!(records.iter().filter(|r| r.warmup).count(), 2, "one warm-up per side");
    let decode = outcome.paired.iter().find(|p| p.metric == "decode_rate").unwrap();
    assert_eq!(decode.n_pairs, 6);
    assert!((decode.ratio - 0.5).abs() < 0.03, "{decode:?}");
    assert!(decode.interval.upper < 0.6, "{decode:?}");
    assert!(
        outcome.summary.unwrap().benchmarks.is_empty(),
        "paired generations are not summarised as benchmarks"
    );
}
