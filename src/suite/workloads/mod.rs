//! The workloads: what the suite runs on a group's server once it is up. Each owns its state
//! (a fidelity reference's answers, prefill sizes skipped) and writes its own results.
//!
//! Adding one: a file here implementing [`Workload`], its benchmark in
//! [`PlannedGroup`](super::plan::PlannedGroup), and its line in [`all`].

mod categories;
mod fidelity;
mod load;
mod paired;
mod prefill;
mod sessions;

use super::journal::Journal;
use super::plan::{PlannedGroup, PlannedPair};
use super::servers::GroupContext;
use super::Harness;
use crate::record::GenerationRecord;
use crate::run_status::Planned;
use anyhow::Result;
use criterion::Criterion;

/// One kind of benchmark the suite runs.
pub trait Workload {
    /// Generations it will make over the whole plan, warm-ups included (for the progress bar).
    fn planned_generations(&self, planned: &[PlannedGroup<'_>], sample_size: Option<u32>) -> u64;
    /// The benchmarks it plans, for the run's status (with the samples each plans, where
    /// criterion takes them; 0 where the workload decides).
    fn planned_benchmarks(&self, planned: &[PlannedGroup<'_>], sample_size: Option<u32>) -> Vec<Planned>;
    /// The (group, benchmark) pairs that measured something but are analysed outside the summary
    /// (load, prefill, paired, fidelity, sessions): they count as run though the summary does not
    /// list them.
    fn ran_outside_summary(&self, _journal: &Journal) -> Vec<(String, String)> {
        Vec::new()
    }
    /// Shows what it would run on `group` (`--list`).
    fn list(&self, group: &PlannedGroup<'_>, criterion: &mut Criterion);
    /// Shows what it would run on servers of its own (`--list`).
    fn list_after_groups(&self) {}
    /// Runs on a group whose server is up. An error ends the run.
    fn run_on(&mut self, _cx: &mut GroupContext<'_>) -> Result<()> {
        Ok(())
    }
    /// Nothing (more) runs on `group`: its server did not start, or a workload stopped it; `why`
    /// says which ("its server did not start: …"). Its benchmarks are already noted.
    fn group_stopped(&mut self, _group: &PlannedGroup<'_>, _why: &str) {}
    /// Runs after every group, on servers of its own (paired comparisons).
    fn run_after_groups(&mut self, _harness: &Harness<'_>) -> Result<()> {
        Ok(())
    }
}

/// Every workload, in the order they run on a group.
pub fn all<'a>(pairs: &'a [PlannedPair<'a>]) -> Vec<Box<dyn Workload + 'a>> {
    vec![
        Box::new(categories::Categories),
        Box::new(fidelity::Fidelity::default()),
        Box::new(sessions::Sessions),
        Box::new(load::Load),
        Box::new(prefill::Prefill::default()),
        Box::new(paired::Paired { pairs }),
    ]
}

/// A planned benchmark whose samples the workload decides (not criterion).
fn planned(group: &str, benchmark: &str) -> Planned {
    Planned {
        group: group.into(),
        benchmark: benchmark.into(),
        samples: 0,
    }
}

/// The distinct (group, benchmark) keys of the successful measured records `key` recognises.
fn ran_by(
    records: &[GenerationRecord],
    key: impl Fn(&GenerationRecord) -> Option<(String, String)>,
) -> Vec<(String, String)> {
    let mut ran: Vec<(String, String)> = Vec::new();
    for k in records.iter().filter(|r| r.ok && !r.warmup).filter_map(key) {
        if !ran.contains(&k) {
            ran.push(k);
        }
    }
    ran
}

/// `--list`: every benchmark the filter selects, without running anything.
pub fn list(workloads: &[Box<dyn Workload + '_>], planned: &[PlannedGroup<'_>], criterion: &mut Criterion) {
    for p in planned {
        for w in workloads {
            w.list(p, criterion);
        }
    }
    for w in workloads {
        w.list_after_groups();
    }
}

/// Brings up each planned group's server, runs every workload on it and closes it; then the
/// workloads that run on servers of their own.
pub fn run_all(
    workloads: &mut [Box<dyn Workload + '_>],
    planned: &[PlannedGroup<'_>],
    harness: &Harness<'_>,
    criterion: &mut Criterion,
) -> Result<()> {
    for p in planned {
        let mut cx = match harness.open_group(p, criterion) {
            Ok(cx) => cx,
            Err(reason) => {
                for w in workloads.iter_mut() {
                    w.group_stopped(p, &format!("its server did not start: {reason}"));
                }
                harness.release_models(&[&p.group.name])?;
                harness.abandon_group(&p.group.name, false, &p.benchmarks(), &reason)?;
                continue;
            }
        };
        for i in 0..workloads.len() {
            if cx.lost() {
                break;
            }
            workloads[i].run_on(&mut cx)?;
            if let Some(reason) = cx.stopped().map(str::to_owned) {
                for w in workloads.iter_mut() {
                    w.group_stopped(p, &format!("its group was stopped: {reason}"));
                }
            }
        }
        cx.close()?;
    }
    for w in workloads.iter_mut() {
        w.run_after_groups(harness)?;
    }
    Ok(())
}
