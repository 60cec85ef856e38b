//! The whole suite (criterion included) against scripted servers: only the filtered group's
//! endpoint is contacted, warm-ups and samples are recorded and marked, and a failed generation
//! is a recorded failure while the run goes on.

mod support;

use quantbench::store::read_records;
use std::sync::atomic::Ordering;
use support::*;

fn two_models(dir: &std::path::Path, a: &str, b: &str) -> quantbench::config::Config {
    let body = format!(
        r#"
        [run]
        samples = 10
        warmup = 2
        languages = ["en"]
        categories = ["short", "code"]
        max_tokens_cap = 8
        [models.a]
        endpoint = {{ url = "{a}", kind = "openai" }}
        quants.q1 = {{ model_id = "a-q1" }}
        [models.b]
        endpoint = {{ url = "{b}", kind = "openai" }}
        quants.q1 = {{ model_id = "b-q1" }}
        "#
    );
    config(dir, &body)
}

#[test]
fn one_group_runs_alone_and_a_cut_stream_is_a_recorded_failure() {
    // Request 5 (a measured sample of the first category) is cut mid-way.
    let a = ScriptedServer::start(|n| {
        let steps = answer(ms(2), ms(1), 8, Some((9, 8)), "length");
        if n == 5 {
            Script {
                status: 200,
                steps: steps.into_iter().take(4).collect(),
                ending: Ending::Cut,
                ..Script::default()
            }
        } else {
            Script::ok(steps)
        }
    });
    let b = ScriptedServer::start(|_| Script::ok(answer(ms(2), ms(1), 8, Some((9, 8)), "length")));
    let tmp = tempfile::tempdir().unwrap();
    let outcome = run_suite(tmp.path(), &two_models(tmp.path(), &a.url, &b.url), "--bench ^a/").unwrap();

    assert_eq!(
        b.connections.load(Ordering::SeqCst),
        0,
        "the filtered-out group's endpoint was contacted"
    );
    assert!(outcome.abandoned.is_empty());
    let dir = outcome.run_dir.unwrap();
    let records = read_records(&dir.join("generations.jsonl")).unwrap();
    for report in [
        "index.html",
        "summary.md",
        "generations.csv",
        "../index.html",
        "bmf.json",
    ] {
        assert!(dir.join(report).is_file(), "{report} was not written");
    }
    // Per category: 2 warm-ups (the second is criterion's own warm-up call) and 10 samples,
    // plus one retry for the cut stream.
    assert_eq!(records.len(), 2 * 12 + 1);
    assert_eq!(a.requests.load(Ordering::SeqCst), records.len());
    let short: Vec<_> = records.iter().filter(|r| r.category == "short").collect();
    assert_eq!(short.iter().filter(|r| r.warmup).count(), 2);
    let failed: Vec<_> = short.iter().filter(|r| !r.ok).collect();
    assert_eq!(failed.len(), 1);
    assert!(!failed[0].warmup);
    assert!(records.iter().all(|r| r.group == "a/q1" && r.max_tokens == 8));

    let summary = outcome.summary.unwrap();
    let s = summary.benchmarks.iter().find(|b| b.category == "short").unwrap();
    assert_eq!((s.attempted, s.ok, s.failed, s.warmups), (11, 10, 1, 2));
    assert!((s.pass_rate.unwrap() - 10.0 / 11.0).abs() < 1e-12);
    assert_eq!(s.metrics["decode_rate"].n, 10);
    let c = summary.benchmarks.iter().find(|b| b.category == "code").unwrap();
    assert_eq!((c.attempted, c.ok), (10, 10));

    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("metadata.json")).unwrap()).unwrap();
    assert_eq!(meta["status"], "complete");
    assert_eq!(meta["groups"].as_array().unwrap().len(), 1);
    assert!(meta["machine"]["logical_cores"].as_u64().unwrap() >= 1);
    // The machine's state: the pre-flight check, each benchmark's start and the end; a trend
    // test on each benchmark's samples; no roofline without a model file.
    assert!(
        meta["machine_state"]["preflight"]["warnings"].is_array() && meta["machine_state"]["end"]["at"].is_string()
    );
    assert!(summary
        .benchmarks
        .iter()
        .all(|b| b.machine_state.is_some() && b.drift.as_ref().is_some_and(|d| d.n == 10)));
    assert!(summary.roofline.is_empty() && meta["groups"][0]["weights_per_token_unavailable"].is_string());
    let bmf: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("bmf.json")).unwrap()).unwrap();
    assert_eq!(
        bmf["a/q1/short"]["decode_rate"]["value"].as_f64(),
        s.metrics["decode_rate"].mean.map(|m| m.point)
    );
}

#[test]
fn an_endpoint_that_always_fails_is_abandoned_without_numbers() {
    let a = ScriptedServer::start(|_| Script {
        status: 500,
        steps: vec![step(ms(0), &b"overloaded"[..])],
        ending: Ending::Clean,
        ..Script::default()
    });
    let tmp = tempfile::tempdir().unwrap();
    let outcome = run_suite(
        tmp.path(),
        &two_models(tmp.path(), &a.url, &a.url),
        "--bench ^a/q1/short",
    )
    .unwrap();
    assert_eq!(outcome.abandoned.len(), 1);
    assert!(
        outcome.abandoned[0].2.contains("HTTP 500: overloaded"),
        "{:?}",
        outcome.abandoned
    );
    let s = &outcome.summary.unwrap().benchmarks[0];
    assert_eq!(s.ok, 0);
    assert!(s.metrics.is_empty(), "no numbers from failures");
    assert!(s.abandoned.is_some());
}

#[test]
fn an_unreachable_endpoint_stops_before_measuring_and_says_what_to_run() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tmp = tempfile::tempdir().unwrap();
    let dead = format!("http://127.0.0.1:{port}/v1");
    let err = format!(
        "{:#}",
        run_suite(tmp.path(), &two_models(tmp.path(), &dead, &dead), "--bench ^a/").unwrap_err()
    );
    assert!(
        err.contains("no usable endpoint") && err.contains(&dead) && err.contains("cargo bench"),
        "{err}"
    );
    assert!(
        !tmp.path().join("reports").exists(),
        "nothing is written when nothing was measured"
    );
}
