//! A reference llama-server that a signal ends while it loads (a simulated one: a shell script
//! that kills itself with SIGILL, as a build for the wrong CPU did): it is started once more with
//! `--no-repack`, and that is recorded; one that crashes again leaves its group `not started`
//! with the signal in words, said once, and the run `partial` with a non-zero exit code.

mod support;

use quantbench::metadata::RunStatus;
use support::*;

#[test]
fn a_crashing_server_is_retried_without_repacking_and_a_group_that_still_crashes_is_one_note() {
    let tmp = tempfile::tempdir().unwrap();
    // Process-wide; this binary's only test.
    std::env::set_var(quantbench::reference::CACHE_ENV, tmp.path().join("cache"));
    fake_reference_install(tmp.path(), &["q4_1"]);
    let body = "[run]\nsamples = 10\nwarmup = 1\nlanguages = [\"en\"]\ncategories = [\"short\", \"code\"]\nmax_tokens_cap = 4\n\
                [models.smollm2]\nreference = \"llama-server\"\nquants.q4_1 = {}\nquants.q8_0 = {}\n";
    let outcome = run_suite(tmp.path(), &config(tmp.path(), body), "--bench smollm2/").unwrap();
    let dir = outcome.run_dir.clone().unwrap();

    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("metadata.json")).unwrap()).unwrap();
    assert_eq!(meta["status"], "partial");
    assert_eq!(meta["counts"]["groups_not_started"], 1);
    assert_eq!(meta["counts"]["benchmarks_not_run"], 2);
    // q8_0 crashed on its first start and served after the retry: recorded with why.
    let groups = meta["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{groups:#?}");
    assert_eq!(groups[0]["name"], "smollm2/q8_0");
    assert_eq!(groups[0]["fallback"]["args"], "--no-repack");
    assert!(
        groups[0]["fallback"]["why"].as_str().unwrap().contains("SIGILL"),
        "{}",
        groups[0]["fallback"]
    );
    let summary = outcome.summary.as_ref().unwrap();
    assert!(
        summary
            .benchmarks
            .iter()
            .filter(|b| b.group == "smollm2/q8_0")
            .all(|b| b.ok == 10 && b.abandoned.is_none()),
        "{summary:#?}"
    );

    // q4_1 crashed both times: not started, the signal in words, the log named, no log text.
    let [stop] = outcome.group_stops.as_slice() else {
        panic!("{:?}", outcome.group_stops)
    };
    assert_eq!((stop.group.as_str(), stop.started), ("smollm2/q4_1", false));
    for part in [
        "SIGILL: the server used a CPU instruction this machine does not execute",
        "llama-server did not start: SIGILL",
        "also with --no-repack",
        "logs: server-smollm2_q4_1.log, server-smollm2_q4_1.no-repack.log",
    ] {
        assert!(stop.reason.contains(part), "{part:?} not in {:?}", stop.reason);
    }
    assert!(!stop.reason.contains('\n'), "one line: {:?}", stop.reason);
    assert!(dir.join("server-smollm2_q4_1.log").is_file() && dir.join("server-smollm2_q4_1.no-repack.log").is_file());
    assert_eq!(outcome.status.as_ref().map(|s| s.0), Some(RunStatus::Partial));
    assert_eq!(quantbench::suite::exit_code(&outcome), 1);

    let said = "smollm2/q4_1 did not start";
    // summary.md holds text as Markdown (`_` escaped), the page as HTML.
    for (report, said) in [
        ("index.html", said.to_owned()),
        ("summary.md", quantbench::report::sanitize::markdown(said)),
    ] {
        let text = std::fs::read_to_string(dir.join(report)).unwrap();
        assert_eq!(text.matches(&said).count(), 1, "{report} says the reason once:\n{text}");
        assert!(!text.contains(FAKE_LOG_LINE), "{report} quotes the server log");
    }
    let history = std::fs::read_to_string(dir.parent().unwrap().join("index.html")).unwrap();
    assert!(
        history.contains("partial: 1 of 2 groups did not start; 2 of 4 benchmarks did not run"),
        "{history}"
    );
}
