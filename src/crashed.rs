//! Runs that stopped without finishing: a run writes `running`, its pid and its host into
//! `metadata.json` when it starts and its final status when it ends. A run killed outright
//! (`kill -9`, a crash, a power cut) never writes the end, so the next run, and `quantbench
//! report`, mark a `running` run whose process is gone as `crashed`; its records stay valid.

use crate::store::RunDir;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// This machine's name, which the metadata records beside the pid: a pid says nothing about a
/// run started on another machine (a shared reports directory).
pub fn host_name() -> Option<String> {
    sysinfo::System::host_name().ok()
}

/// Whether process `pid` exists on this machine (signal 0 checks without sending anything; a
/// process of another user answers EPERM, which still means it exists).
fn alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill with signal 0 only checks that the process exists; it has no other effect.
    let answer = unsafe { libc::kill(pid, 0) };
    answer == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Marks the run in `dir` `crashed` when its metadata says `running` and names a process of
/// this machine that no longer exists. Returns the reason written, if it marked it.
pub fn mark_if_crashed(dir: &RunDir) -> Result<Option<String>> {
    let path = dir.metadata();
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let Ok(mut doc) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Ok(None);
    };
    let pid = doc
        .get("pid")
        .and_then(serde_json::Value::as_u64)
        .and_then(|p| u32::try_from(p).ok());
    let host = doc.get("host").and_then(serde_json::Value::as_str).map(str::to_owned);
    let (Some("running"), Some(pid)) = (doc.get("status").and_then(serde_json::Value::as_str), pid) else {
        return Ok(None);
    };
    if host != host_name() || alive(pid) || pid == std::process::id() {
        return Ok(None);
    }
    let reason = format!("the run's process (pid {pid}) ended without finishing the run (killed, crashed, or the machine stopped); the records written before are kept");
    doc["status"] = "crashed".into();
    doc["error"] = reason.clone().into();
    crate::util::write_json_atomic(&path, &doc).with_context(|| format!("marking {} crashed", dir.path().display()))?;
    Ok(Some(reason))
}

/// [`mark_if_crashed`] for every run directory in `root`, each one marked said on the terminal;
/// the directories it marked. One that cannot be marked is said too, and left as it is.
pub fn mark_crashed_runs(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut marked = Vec::new();
    for dir in entries
        .flatten()
        .map(|e| RunDir::new(e.path()))
        .filter(RunDir::has_records)
    {
        match mark_if_crashed(&dir) {
            Ok(Some(reason)) => {
                eprintln!("quantbench: run {} marked crashed: {reason}", dir.path().display());
                marked.push(dir.path().to_owned());
            }
            Ok(None) => {}
            Err(e) => eprintln!("quantbench: {e:#}"),
        }
    }
    marked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_dir(tmp: &Path, name: &str, metadata: serde_json::Value) -> RunDir {
        let dir = RunDir::new(tmp.join(name));
        std::fs::create_dir_all(dir.path()).unwrap();
        std::fs::write(dir.generations(), "").unwrap();
        std::fs::write(dir.metadata(), metadata.to_string()).unwrap();
        dir
    }

    #[test]
    fn a_running_run_of_a_dead_process_is_crashed_and_a_live_one_is_left() {
        let tmp = tempfile::tempdir().unwrap();
        // A child that has exited and been reaped: its pid names no process.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let host = host_name();
        let gone = run_dir(
            tmp.path(),
            "gone",
            serde_json::json!({"status": "running", "pid": dead, "host": host, "run": "gone"}),
        );
        let live = run_dir(
            tmp.path(),
            "live",
            serde_json::json!({"status": "running", "pid": 1, "host": host}),
        );
        let other = run_dir(
            tmp.path(),
            "elsewhere",
            serde_json::json!({"status": "running", "pid": dead, "host": "another-machine"}),
        );
        let done = run_dir(
            tmp.path(),
            "done",
            serde_json::json!({"status": "complete", "pid": dead, "host": host}),
        );
        assert_eq!(mark_crashed_runs(tmp.path()), vec![gone.path().to_owned()]);
        let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(gone.metadata()).unwrap()).unwrap();
        assert_eq!(
            (doc["status"].as_str(), doc["run"].as_str()),
            (Some("crashed"), Some("gone"))
        );
        assert!(doc["error"].as_str().unwrap().starts_with(&format!(
            "the run's process (pid {dead}) ended without finishing the run"
        )));
        for kept in [live, other, done] {
            assert!(!std::fs::read_to_string(kept.metadata()).unwrap().contains("crashed"));
        }
    }
}
