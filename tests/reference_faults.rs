//! A managed reference server that dies in the middle of a group: the group's remaining
//! benchmarks are stopped with the reason (and the server's last log lines), nothing is made up,
//! and the next group runs on a fresh server.

mod support;

use std::time::{Duration, Instant};
use support::*;

#[test]
fn a_server_killed_mid_group_stops_that_group_and_the_run_goes_on() {
    quantbench::reference::ensure_installed(&|m| eprintln!("{m}")).expect("reference install");
    let tmp = tempfile::tempdir().unwrap();
    let body = "[run]\nsamples = 10\nwarmup = 1\nlanguages = [\"en\"]\ncategories = [\"short\", \"code\", \"long\"]\nmax_tokens_cap = 24\nmax_failures = 3\n\
                [models.smollm2]\nreference = \"llama-server\"\nquants.q4_1 = {}\nquants.q8_0 = {}\n";
    let cfg = config(tmp.path(), body);
    let reports = tmp.path().join("reports");
    // Kill the first group's server with SIGKILL once it has served a few generations.
    let killer = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            let run = reports
                .read_dir()
                .ok()
                .and_then(|mut d| d.next())
                .and_then(Result::ok)
                .map(|e| e.path());
            let records = run
                .as_ref()
                .and_then(|r| std::fs::read_to_string(r.join("generations.jsonl")).ok())
                .map_or(0, |t| t.lines().count());
            if records >= 4 {
                let meta: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(run.unwrap().join("metadata.json")).unwrap())
                        .unwrap();
                let pid = meta["groups"][0]["server_pid"].as_i64().unwrap();
                std::process::Command::new("kill")
                    .args(["-9", &pid.to_string()])
                    .status()
                    .unwrap();
                return pid;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the run never got going");
    });
    let outcome = run_suite(tmp.path(), &cfg, "--bench smollm2/").unwrap();
    killer.join().unwrap();
    let summary = outcome.summary.unwrap();
    let first: Vec<_> = summary
        .benchmarks
        .iter()
        .filter(|b| b.group == "smollm2/q4_1")
        .collect();
    assert_eq!(first.len(), 3);
    assert!(first.iter().all(|b| b.abandoned.is_some()), "{first:#?}");
    assert!(
        first[0].failed >= 1,
        "the generations that met the dead server are recorded failures"
    );
    assert!(
        first[2]
            .abandoned
            .as_deref()
            .unwrap()
            .contains("the managed server exited"),
        "{:?}",
        first[2].abandoned
    );
    let second: Vec<_> = summary
        .benchmarks
        .iter()
        .filter(|b| b.group == "smollm2/q8_0")
        .collect();
    assert!(
        second.iter().all(|b| b.abandoned.is_none() && b.ok == 10),
        "{second:#?}"
    );
    assert_eq!(outcome.abandoned.len(), 3);
}
