//! A process killed with SIGKILL while rewriting a run's JSON leaves the previous file whole:
//! documents are written to a temporary file and renamed over the old one.

use std::process::Command;
use std::time::Duration;

#[test]
fn kill_9_during_a_rewrite_leaves_a_whole_file() {
    let tmp = tempfile::tempdir().unwrap();
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/runs/reference-1-thread/generations.jsonl");
    // A bigger run (the fixture 40 times) so that a rewrite takes long enough to be interrupted.
    let text = std::fs::read_to_string(fixture).unwrap().repeat(40);
    std::fs::write(tmp.path().join("generations.jsonl"), text).unwrap();
    let summarize = || {
        Command::new(env!("CARGO_BIN_EXE_quantbench"))
            .arg("summary")
            .arg(tmp.path())
            .output()
            .unwrap()
    };
    assert!(summarize().status.success());
    let summary = tmp.path().join("summary.json");
    let first: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();

    let mut killed = 0;
    for i in 0..30u64 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_quantbench"))
            .arg("summary")
            .arg(tmp.path())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(500 * (i % 20)));
        killed += usize::from(child.try_wait().unwrap().is_none());
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let now: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap())
            .expect("summary.json is whole after kill -9");
        assert_eq!(now, first);
    }
    assert!(
        killed > 0,
        "no process was killed while running; the test proved nothing"
    );
}
