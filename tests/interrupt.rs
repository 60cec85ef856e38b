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

    let mut child = suite_command(tmp.path(), &["--bench", "m/q", "--save-baseline", "keep"])
        .spawn()
        .unwrap();
    let run_dir = || run_dir_in(&reports);
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

#[test]
fn a_run_killed_outright_reads_crashed_after_the_next_report() {
    let server = ScriptedServer::start(|_| Script::ok(answer(ms(20), ms(10), 30, Some((5, 30)), "length")));
    let tmp = tempfile::tempdir().unwrap();
    let body = format!(
        "[run]\nsamples = 10\nwarmup = 1\nlanguages = [\"en\"]\ncategories = [\"short\"]\nmax_tokens_cap = 30\n\
         [models.m]\nendpoint = {{ url = \"{}\", kind = \"openai\" }}\nquants.q = {{ model_id = \"m\" }}\n",
        server.url
    );
    config(tmp.path(), &body);
    let reports = tmp.path().join("reports");
    let mut child = suite_command(tmp.path(), &["--bench", "m/q/short"]).spawn().unwrap();
    let run_dir = || run_dir_in(&reports);
    let deadline = Instant::now() + Duration::from_secs(60);
    while run_dir()
        .and_then(|d| std::fs::read_to_string(d.join("generations.jsonl")).ok())
        .map_or(0, |t| t.lines().count())
        < 2
    {
        assert!(Instant::now() < deadline, "the run never got going");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = child.id();
    child.kill().unwrap(); // SIGKILL: nothing of the run's own ending runs
    child.wait().unwrap();
    let dir = run_dir().unwrap();
    let status = || {
        serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(dir.join("metadata.json")).unwrap()).unwrap()
            ["status"]
            .clone()
    };
    assert_eq!(status(), "running");

    let out = Command::new(env!("CARGO_BIN_EXE_quantbench"))
        .arg("report")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stderr);
    let reason = format!("the run's process (pid {pid}) ended without finishing the run (killed, crashed, or the machine stopped); the records written before are kept");
    assert!(
        said.contains(&format!("quantbench: run {} marked crashed: {reason}", dir.display())),
        "{said}"
    );
    assert_eq!(status(), "crashed");
    let page = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert!(page.contains("The run is <b>crashed</b>"), "the page says so");
    assert!(
        std::fs::read_to_string(reports.join("index.html"))
            .unwrap()
            .contains("crashed"),
        "and the list of runs"
    );
}
