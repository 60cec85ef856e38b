//! Ctrl-C (SIGINT) in the middle of a run, on the suite as a separate process: it stops cleanly
//! with exit code 130, keeps every record written so far, marks the run interrupted, and leaves
//! the baseline it was going to update untouched.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};
use support::*;

#[test]
fn sigint_keeps_records_marks_the_run_and_spares_the_baseline() {
    // Each generation takes about 300 ms.
    let server = ScriptedServer::start(|_| Script::ok(answer(ms(20), ms(10), 30, Some((5, 30)), "length")));
    let tmp = tempfile::tempdir().unwrap();
    let body = format!(
        "[run]\nsamples = 10\nwarmup = 1\nlanguages = [\"en\"]\ncategories = [\"short\", \"code\"]\nmax_tokens_cap = 30\n\
         [models.m]\nendpoint = {{ url = \"{}\", kind = \"openai\" }}\nquants.q = {{ model_id = \"m\" }}\n",
        server.url
    );
    config(tmp.path(), &body);
    let reports = tmp.path().join("reports");
    let baseline = reports.join("baselines/keep/generations.jsonl");
    std::fs::create_dir_all(baseline.parent().unwrap()).unwrap();
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/runs/reference-1-thread/generations.jsonl");
    std::fs::copy(&fixture, &baseline).unwrap();
    let before = std::fs::read(&baseline).unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_quantbench-suite"))
        .args(["--bench", "m/q", "--save-baseline", "keep"])
        .env("QUANTBENCH_CONFIG", tmp.path().join("quantbench.toml"))
        .env("QUANTBENCH_REPORTS_DIR", &reports)
        .env("CRITERION_HOME", tmp.path().join("criterion"))
        .spawn()
        .unwrap();
    let run_dir = || {
        reports
            .read_dir()
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.join("generations.jsonl").is_file())
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let lines = run_dir()
            .and_then(|d| std::fs::read_to_string(d.join("generations.jsonl")).ok())
            .map_or(0, |t| t.lines().count());
        if lines >= 3 {
            break;
        }
        assert!(Instant::now() < deadline, "the run never got going");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));

    let dir = run_dir().unwrap();
    let records = quantbench::store::read_records(&dir.join("generations.jsonl")).expect("every kept record is whole");
    assert!(records.len() >= 3 && records.len() < 22, "{}", records.len());
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("metadata.json")).unwrap()).unwrap();
    assert_eq!(meta["status"], "interrupted");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert!(!summary["benchmarks"].as_array().unwrap().is_empty());
    // The report of what was measured is written too, and says the run did not finish.
    let page = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert!(
        page.contains("The run is <b>interrupted</b>"),
        "the report does not say the run was interrupted"
    );
    assert_eq!(
        std::fs::read(&baseline).unwrap(),
        before,
        "the baseline was not touched"
    );
}
