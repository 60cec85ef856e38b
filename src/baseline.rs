//! quantbench's baselines: `<reports root>/baselines/NAME/` holds the last runs of each benchmark
//! (`generations.jsonl`) and their fidelity results. A regression gate is only as good as its
//! baseline, so a baseline is checked line by line when it is loaded, before anything is
//! measured, and every read-modify-write of one holds an exclusive file lock: two runs saving
//! the same baseline at once both keep their runs.

use crate::fidelity::GroupFidelity;
use crate::record::{GenerationRecord, RECORD_SCHEMA};
use crate::store::{baseline_dir, read_numbered_records, read_records};
use crate::util::write_atomic;
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

/// Runs of one benchmark a baseline keeps (the most recent).
pub const BASELINE_RUNS: usize = 5;

/// The exclusive lock on baseline NAME, held while it lives (the OS releases it with the file,
/// also when the process dies).
pub struct BaselineLock {
    _file: File,
    /// Whether another process held the lock when this one asked for it.
    pub waited: bool,
}

/// Takes the exclusive lock on baseline NAME (the file `baselines/NAME/.lock`), waiting for a
/// run that holds it; `waiting` is called once, before waiting, with the lock file's path.
pub fn lock(root: &Path, name: &str, waiting: &dyn Fn(&Path)) -> Result<BaselineLock> {
    let dir = baseline_dir(root, name);
    std::fs::create_dir_all(dir.path()).with_context(|| format!("creating {}", dir.path().display()))?;
    let path = dir.path().join(".lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    let waited = match file.try_lock() {
        Ok(()) => false,
        Err(TryLockError::WouldBlock) => {
            waiting(&path);
            file.lock().with_context(|| format!("locking {}", path.display()))?;
            true
        }
        Err(TryLockError::Error(e)) => return Err(e).with_context(|| format!("locking {}", path.display())),
    };
    Ok(BaselineLock { _file: file, waited })
}

/// The records of baseline NAME, checked (see [`validate`]), with a message that says how to
/// make one when it is missing.
pub fn load(root: &Path, name: &str) -> Result<Vec<GenerationRecord>> {
    let dir = baseline_dir(root, name);
    let path = dir.generations();
    if !path.is_file() {
        bail!("baseline {name:?} not found ({} does not exist); save one first with `cargo bench --bench llm -- <filter> --save-baseline {name}`", path.display());
    }
    let numbered = read_numbered_records(&path)?;
    if numbered.is_empty() && dir.fidelity().is_file() {
        return Ok(Vec::new()); // a baseline of fidelity passes only: their results are in fidelity.json
    }
    let advice = || {
        format!(
            "baseline {name:?} cannot be used; remove {} and save it again with --save-baseline {name}",
            dir.path().display()
        )
    };
    validate(&path, &numbered).with_context(advice)?;
    Ok(numbered.into_iter().map(|(_, r)| r).collect())
}

/// Metrics that are rates or durations of a successful generation: finite and above zero when
/// present (a zero TTFT would silently drop the metric from every comparison).
fn positive_metrics(r: &GenerationRecord) -> [(&'static str, Option<f64>); 5] {
    let m = &r.metrics;
    [
        ("ttft_s", m.ttft_s),
        ("decode_rate", m.decode_rate),
        ("e2e_s", m.e2e_s),
        ("output_rate", m.output_rate),
        ("prefill_rate", m.prefill_rate),
    ]
}

/// A baseline's records as the comparisons need them: at least one, each of a known schema, no
/// measured sample twice in one run (a repeated record would fake samples and runs), and every
/// metric of a successful sample finite and positive. The error names the file and the line
/// (each record comes with its line number).
pub fn validate(path: &Path, records: &[(usize, GenerationRecord)]) -> Result<()> {
    let at = |line: usize| format!("{} line {line}", path.display());
    if records.is_empty() {
        bail!("{}: the baseline is empty (no records)", path.display());
    }
    let mut seen: HashMap<(&str, &str, &str, u32, bool), usize> = HashMap::new();
    for (i, r) in records.iter().map(|(line, r)| (*line, r)) {
        if !(1..=RECORD_SCHEMA).contains(&r.schema) {
            bail!(
                "{}: record schema {} is not known (this build reads 1 to {RECORD_SCHEMA})",
                at(i),
                r.schema
            );
        }
        if r.is_ordinary() {
            if let Some(first) = seen.insert((&r.run, &r.group, &r.category, r.sample, r.warmup), i) {
                bail!(
                    "{}: duplicates {} (run {}, {}/{} sample {})",
                    at(i),
                    at(first),
                    r.run,
                    r.group,
                    r.category,
                    r.sample
                );
            }
        }
        if r.ok {
            for (metric, value) in positive_metrics(r) {
                if let Some(v) = value.filter(|v| !(v.is_finite() && *v > 0.0)) {
                    bail!("{}: {metric} = {v} (must be a finite number above 0)", at(i));
                }
            }
        }
    }
    Ok(())
}

/// Ordinary benchmarks and the measured requests of the session and depth workloads (whose
/// verdicts `session::analysis::verdict_rows` computes) are kept in baselines.
fn kept_in_baselines(r: &GenerationRecord) -> bool {
    r.is_ordinary() || r.session.is_some() || r.depth.as_ref().is_some_and(|d| !d.setup)
}

/// Adds `records` (the measured samples of ordinary benchmarks, sessions and depth) and `fidelity` to baseline NAME
/// under its lock. For each benchmark in `records` the baseline keeps its last [`BASELINE_RUNS`]
/// runs, so saving several runs before an upgrade lets comparisons see the run-to-run spread;
/// other benchmarks are kept as they are. Written atomically. Returns the directory, per
/// benchmark saved how many runs it now holds, and whether the save waited for the lock.
pub fn save(
    root: &Path,
    name: &str,
    records: &[GenerationRecord],
    fidelity: &[GroupFidelity],
    waiting: &dyn Fn(&Path),
) -> Result<Saved> {
    let lock = lock(root, name, waiting)?;
    let dir = baseline_dir(root, name);
    let path = dir.generations();
    let mut kept = if path.is_file() {
        read_records(&path)?
    } else {
        Vec::new()
    };
    kept.extend(records.iter().filter(|r| !r.warmup && kept_in_baselines(r)).cloned());
    // Per benchmark, the distinct runs (run ids sort by start time), newest last.
    let runs_of = |kept: &[GenerationRecord], group: &str, category: &str| {
        let mut ids: Vec<String> =
            crate::record::run_ids(kept.iter().filter(|r| r.group == group && r.category == category))
                .into_iter()
                .map(str::to_owned)
                .collect();
        ids.sort();
        ids
    };
    let mut most_runs = 0;
    for new in records.iter().filter(|r| kept_in_baselines(r)) {
        let ids = runs_of(&kept, &new.group, &new.category);
        let dropped = &ids[..ids.len().saturating_sub(BASELINE_RUNS)];
        kept.retain(|r| !(r.group == new.group && r.category == new.category && dropped.contains(&r.run)));
        most_runs = most_runs.max(ids.len() - dropped.len());
    }
    let mut bytes = Vec::new();
    for record in &kept {
        serde_json::to_writer(&mut bytes, record)?;
        bytes.push(b'\n');
    }
    write_atomic(&path, &bytes)?;
    crate::fidelity::save_baseline(root, name, fidelity)?;
    Ok(Saved {
        dir: dir.path().to_owned(),
        runs: most_runs,
        waited_for_lock: lock.waited,
    })
}

/// What [`save`] did.
pub struct Saved {
    pub dir: PathBuf,
    /// Runs the baseline now holds of the benchmark with the most.
    pub runs: usize,
    pub waited_for_lock: bool,
}

/// The benchmarks (group/category) of `planned` that `baseline` has too; an error naming both
/// sides when there are none, so that a comparison that cannot happen stops the run before it
/// measures (instead of an empty verdict table that passes the gate).
pub fn check_in_common(
    name: &str,
    baseline: &[GenerationRecord],
    also_saved: &[(String, String)],
    planned: &[(String, String)],
) -> Result<()> {
    let mut saved = crate::record::benchmarks(baseline);
    saved.extend(also_saved.iter().cloned());
    if planned.is_empty() || planned.iter().any(|p| saved.contains(p)) {
        return Ok(());
    }
    let list = |keys: &[(String, String)]| {
        keys.iter()
            .map(|(g, c)| format!("{g}/{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    bail!(
        "baseline {name:?} has no benchmark in common with this run: it holds {}; the run plans {}",
        list(&saved),
        list(planned)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> GenerationRecord {
        let mut r: GenerationRecord = serde_json::from_str(
            include_str!("../fixtures/runs/reference-1-thread/generations.jsonl")
                .lines()
                .next()
                .unwrap(),
        )
        .unwrap();
        r.warmup = false;
        r.ok = true;
        r
    }

    fn err(records: &[GenerationRecord]) -> String {
        let numbered: Vec<(usize, GenerationRecord)> =
            records.iter().cloned().enumerate().map(|(i, r)| (i + 1, r)).collect();
        format!(
            "{:#}",
            validate(Path::new("b/generations.jsonl"), &numbered).unwrap_err()
        )
    }

    #[test]
    fn empty_duplicated_zero_and_unknown_baselines_name_file_and_line() {
        assert_eq!(err(&[]), "b/generations.jsonl: the baseline is empty (no records)");
        let r = record();
        assert!(validate(Path::new("x"), &[(1, r.clone())]).is_ok());
        let e = err(&[r.clone(), r.clone()]);
        assert!(
            e.starts_with("b/generations.jsonl line 2: duplicates b/generations.jsonl line 1 (run "),
            "{e}"
        );
        let mut zero = r.clone();
        zero.sample += 1;
        zero.metrics.ttft_s = Some(0.0);
        assert_eq!(
            err(&[r.clone(), zero]),
            "b/generations.jsonl line 2: ttft_s = 0 (must be a finite number above 0)"
        );
        let mut future = r;
        future.schema = RECORD_SCHEMA + 1;
        let expected = format!(
            "line 1: record schema {} is not known (this build reads 1 to {RECORD_SCHEMA})",
            RECORD_SCHEMA + 1
        );
        assert!(err(&[future]).contains(&expected));
    }

    #[test]
    fn round_trip_and_a_missing_baseline() {
        let tmp = tempfile::tempdir().unwrap();
        let saved = save(tmp.path(), "x", &[record()], &[], &|_| {}).unwrap();
        assert!(!saved.waited_for_lock);
        assert_eq!(load(tmp.path(), "x").unwrap(), vec![record()]);
        let err = format!("{:#}", load(tmp.path(), "missing").unwrap_err());
        assert!(err.contains("baseline \"missing\" not found"), "{err}");
    }

    #[test]
    fn a_save_waits_for_the_lock_and_says_so() {
        let tmp = tempfile::tempdir().unwrap();
        let held = lock(tmp.path(), "x", &|_| panic!("nobody holds it yet")).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let root = tmp.path().to_owned();
        let saver = std::thread::spawn(move || {
            save(&root, "x", &[record()], &[], &|p| tx.send(p.to_owned()).unwrap())
                .unwrap()
                .waited_for_lock
        });
        // The saver found the lock taken (it said so) before it could write anything.
        assert!(rx.recv().unwrap().ends_with("baselines/x/.lock"));
        assert!(!baseline_dir(tmp.path(), "x").has_records());
        drop(held);
        assert!(saver.join().unwrap());
        assert_eq!(load(tmp.path(), "x").unwrap().len(), 1);
    }

    #[test]
    fn concurrent_savers_keep_every_run() {
        let tmp = tempfile::tempdir().unwrap();
        let savers: Vec<_> = (0..4)
            .map(|t| {
                let root = tmp.path().to_owned();
                std::thread::spawn(move || {
                    let mut r = record();
                    r.run = format!("run-{t}");
                    save(&root, "shared", &[r], &[], &|_| {}).unwrap();
                })
            })
            .collect();
        savers.into_iter().for_each(|s| s.join().unwrap());
        let mut runs: Vec<String> = load(tmp.path(), "shared").unwrap().into_iter().map(|r| r.run).collect();
        runs.sort();
        assert_eq!(runs, ["run-0", "run-1", "run-2", "run-3"]);
    }

    #[test]
    fn no_benchmark_in_common_is_an_error() {
        let r = record();
        let planned = vec![("other/q".to_owned(), "code".to_owned())];
        let e = format!(
            "{:#}",
            check_in_common("b", std::slice::from_ref(&r), &[], &planned).unwrap_err()
        );
        assert!(
            e.starts_with("baseline \"b\" has no benchmark in common with this run: it holds "),
            "{e}"
        );
        assert!(check_in_common(
            "b",
            std::slice::from_ref(&r),
            &[],
            &[(r.group.clone(), r.category.clone())]
        )
        .is_ok());
    }
}
