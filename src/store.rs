//! Run directories on disk: `target-reports/<run-id>/` with `generations.jsonl` (appended and
//! flushed per record, so an interrupted run keeps what it measured), and JSON documents
//! (`summary.json`, `metadata.json`) written atomically: temp file, fsync, rename.

use crate::record::GenerationRecord;
use crate::util::write_json_atomic;
use anyhow::{Context, Result};
use serde::Serialize;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Overrides where run directories go.
pub const REPORTS_ENV: &str = "QUANTBENCH_REPORTS_DIR";

/// `$QUANTBENCH_REPORTS_DIR`, else `target-reports/` in the current directory (`cargo bench`
/// runs in the crate root, so there it is the crate's).
pub fn reports_root() -> PathBuf {
    reports_root_or(None)
}

/// `explicit` (`--reports-dir`), else as [`reports_root`].
pub fn reports_root_or(explicit: Option<&Path>) -> PathBuf {
    let chosen = explicit
        .map(Path::to_owned)
        .or_else(|| std::env::var_os(REPORTS_ENV).map(PathBuf::from));
    chosen.unwrap_or_else(|| std::env::current_dir().unwrap_or_default().join("target-reports"))
}

/// A sortable run id: UTC start time (milliseconds) plus the process id. `RunStore::create`
/// makes it unique on disk.
pub fn new_run_id() -> String {
    format!(
        "{}-{:05}",
        chrono::Utc::now().format("%Y-%m-%dT%H-%M-%S%.3fZ"),
        std::process::id() % 100_000
    )
}

/// A run directory (or a baseline's), one accessor per file it may hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    pub fn new(path: impl Into<PathBuf>) -> RunDir {
        RunDir { path: path.into() }
    }

    /// The directory itself; its name is the run id.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every generation, one JSON record per line, appended as the run goes.
    pub fn generations(&self) -> PathBuf {
        self.path.join("generations.jsonl")
    }

    pub fn metadata(&self) -> PathBuf {
        self.path.join("metadata.json")
    }

    pub fn summary(&self) -> PathBuf {
        self.path.join("summary.json")
    }

    /// Verdicts against a baseline.
    pub fn comparison(&self) -> PathBuf {
        self.path.join("comparison.json")
    }

    pub fn paired(&self) -> PathBuf {
        self.path.join("paired.json")
    }

    /// Load benchmark results per level (concurrency and open loop).
    pub fn load(&self) -> PathBuf {
        self.path.join("concurrency.json")
    }

    pub fn prefill(&self) -> PathBuf {
        self.path.join("prefill.json")
    }

    pub fn fidelity(&self) -> PathBuf {
        self.path.join("fidelity.json")
    }

    /// Agent session and context-depth results.
    pub fn sessions(&self) -> PathBuf {
        self.path.join("sessions.json")
    }

    /// The run's HTML report.
    pub fn page(&self) -> PathBuf {
        self.path.join("index.html")
    }

    /// The log of a server the suite started for `group`.
    pub fn server_log(&self, group: &str) -> PathBuf {
        self.path.join(format!("server-{}.log", group.replace('/', "_")))
    }

    /// Whether this is a run directory (or baseline) at all: it has records.
    pub fn has_records(&self) -> bool {
        self.generations().is_file()
    }
}

/// The run directory `what` names: a path to one (relative to the current directory), or a run
/// id, a directory of `root`. None when neither holds records. Returned absolute, so that the
/// directory holding it (the history page's) is known whatever the current directory.
pub fn find_run(what: &str, root: &Path) -> Option<RunDir> {
    let candidates = [Path::new(what).to_owned(), root.join(what)];
    let found = candidates.into_iter().find(|dir| RunDir::new(dir).has_records())?;
    Some(RunDir::new(std::path::absolute(&found).unwrap_or(found)))
}

pub struct RunStore {
    pub dir: RunDir,
    generations: File,
}

impl RunStore {
    /// Creates the run directory; the id gets a suffix if a directory of that name exists.
    pub fn create(root: &Path, run_id: &str) -> Result<RunStore> {
        std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
        let mut dir = root.join(run_id);
        let mut n = 1;
        loop {
            match std::fs::create_dir(&dir) {
                Ok(()) => break,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    n += 1;
                    dir = root.join(format!("{run_id}-{n}"));
                }
                Err(e) => return Err(e).with_context(|| format!("creating the run directory {}", dir.display())),
            }
        }
        let dir = RunDir::new(dir);
        let path = dir.generations();
        let generations = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        Ok(RunStore { dir, generations })
    }

    pub fn run_id(&self) -> String {
        self.dir
            .path()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// Appends one record as one line, written with a single call and synced to disk.
    pub fn append(&mut self, record: &GenerationRecord) -> Result<()> {
        let mut line = crate::util::redact(&serde_json::to_string(record)?)
            .into_owned()
            .into_bytes();
        line.push(b'\n');
        self.generations
            .write_all(&line)
            .and_then(|()| self.generations.sync_data())
            .with_context(|| format!("writing {}", self.dir.generations().display()))
    }

    /// Writes one of the run's JSON documents (a path from [`RunDir`]) atomically.
    pub fn write(&self, path: &Path, value: &impl Serialize) -> Result<()> {
        write_json_atomic(path, value)
    }
}

/// Where quantbench keeps baseline NAME: `<reports root>/baselines/NAME/`.
pub fn baseline_dir(root: &Path, name: &str) -> RunDir {
    RunDir::new(root.join("baselines").join(name))
}

/// Reads a `generations.jsonl`, naming the line of any bad record. A last line without its
/// newline is a record a killed process was writing: it is skipped, with a warning. Whole
/// records: readers of a long run's figures use `record_stream` instead.
pub fn read_records(path: &Path) -> Result<Vec<GenerationRecord>> {
    let mut records = Vec::new();
    crate::record_stream::for_each(path, |_, r| {
        records.push(r);
        Ok(())
    })?;
    Ok(records)
}

/// As [`read_records`], each record with its line number (from 1).
pub fn read_numbered_records(path: &Path) -> Result<Vec<(usize, GenerationRecord)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let (complete, torn) = match text.rfind('\n') {
        Some(end) => text.split_at(end + 1),
        None => ("", text.as_str()),
    };
    if !torn.trim().is_empty() {
        eprintln!(
            "quantbench: {}: ignoring an unfinished last line ({} bytes)",
            path.display(),
            torn.len()
        );
    }
    complete
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map(|r| (i + 1, r))
                .with_context(|| format!("{} line {}", path.display(), i + 1))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> GenerationRecord {
        serde_json::from_str(
            include_str!("../fixtures/runs/reference-1-thread/generations.jsonl")
                .lines()
                .next()
                .unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn a_full_disk_is_a_clear_error() {
        // /dev/full answers every write with ENOSPC, as a full disk does.
        let mut store = RunStore {
            dir: RunDir::new("/tmp/full-disk-run"),
            generations: OpenOptions::new().append(true).open("/dev/full").unwrap(),
        };
        let err = format!("{:#}", store.append(&record()).unwrap_err());
        assert!(
            err.contains("writing /tmp/full-disk-run/generations.jsonl") && err.contains("No space left on device"),
            "{err}"
        );
    }

    #[test]
    fn a_torn_last_line_is_skipped() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("generations.jsonl");
        let line = serde_json::to_string(&record()).unwrap();
        std::fs::write(&path, format!("{line}\n{}", &line[..40])).unwrap();
        assert_eq!(read_records(&path).unwrap().len(), 1);
    }

    #[test]
    fn run_directories_are_never_reused() {
        let tmp = tempfile::tempdir().unwrap();
        let a = RunStore::create(tmp.path(), "r").unwrap();
        let b = RunStore::create(tmp.path(), "r").unwrap();
        assert_eq!((a.run_id(), b.run_id()), ("r".to_owned(), "r-2".to_owned()));
    }
}
