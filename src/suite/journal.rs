//! The run as it is written down while it goes: records appended one by one, notes on stopped
//! benchmarks, fidelity results and metadata — shared with the signal handler, so that Ctrl-C
//! keeps everything measured and marks the run interrupted.

use crate::fidelity::{self, FidelityReport, GroupFidelity};
use crate::managed;
use crate::metadata::{GroupServer, Metadata, RunStatus};
use crate::paired::PairedComparison;
use crate::record::GenerationRecord;
use crate::session::analysis::{self as sessions, Cut};
use crate::store::RunStore;
use crate::summary::{self, BenchmarkNote, GroupStop, Summary};
use crate::util::now;
use anyhow::Result;
use std::sync::{Arc, Mutex, MutexGuard};

/// What the run writes as it goes.
pub struct Journal {
    pub store: RunStore,
    pub metadata: Metadata,
    /// Every record so far, without its bulk (`GenerationRecord::without_bulk`).
    pub records: Vec<GenerationRecord>,
    pub notes: Vec<BenchmarkNote>,
    /// Groups stopped as a whole: one note each, their benchmarks pointing to it.
    pub group_stops: Vec<GroupStop>,
    pub fidelity: Vec<GroupFidelity>,
    /// Paired A/B results, once every pair has run.
    pub paired: Vec<PairedComparison>,
    /// Agent sessions and depths cut or skipped (group workloads and paired sessions alike).
    pub session_cuts: Vec<Cut>,
}

/// The journal, locked while one record or document is written.
pub type SharedJournal = Arc<Mutex<Journal>>;

/// Locks the journal; a panic elsewhere while it was held does not lose it.
pub fn lock(journal: &Mutex<Journal>) -> MutexGuard<'_, Journal> {
    journal.lock().unwrap_or_else(|e| e.into_inner())
}

impl Journal {
    /// Appends a record to `generations.jsonl` and keeps it, without its bulk, for the summary
    /// and the verdicts: a long run's memory grows by a fraction of its records file.
    pub fn record(&mut self, record: GenerationRecord) -> Result<()> {
        self.store.append(&record)?;
        self.records.push(record.without_bulk());
        Ok(())
    }

    /// The note of one benchmark, created empty the first time.
    pub fn note(&mut self, group: &str, category: &str) -> &mut BenchmarkNote {
        let i = match self
            .notes
            .iter()
            .position(|n| n.group == group && n.category == category)
        {
            Some(i) => i,
            None => {
                self.notes.push(BenchmarkNote {
                    group: group.into(),
                    category: category.into(),
                    ..Default::default()
                });
                self.notes.len() - 1
            }
        };
        &mut self.notes[i]
    }

    /// Benchmarks stopped early: (group, category, reason).
    pub fn abandoned(&self) -> Vec<(String, String, String)> {
        self.notes
            .iter()
            .filter_map(|n| n.abandoned.clone().map(|r| (n.group.clone(), n.category.clone(), r)))
            .collect()
    }

    /// The metadata of the group's latest server (a group restarted for more slots has two).
    pub fn group_run(&mut self, group: &str) -> Option<&mut GroupServer> {
        self.metadata.groups.iter_mut().rev().find(|i| i.name == group)
    }

    pub fn summary(&self) -> Summary {
        let mut summary = Summary {
            group_stops: self.group_stops.clone(),
            ..summary::summarize(&self.metadata.run, &self.records, &self.notes)
        };
        summary.roofline =
            crate::roofline::from_metadata(&self.records, &serde_json::to_value(&self.metadata).unwrap_or_default());
        summary
    }

    pub fn save_summary(&self) -> Result<()> {
        self.store.write(&self.store.dir.summary(), &self.summary())
    }

    pub fn save_metadata(&self) -> Result<()> {
        self.store.write(&self.store.dir.metadata(), &self.metadata)
    }

    pub fn save_fidelity(&mut self, result: GroupFidelity) -> Result<()> {
        self.fidelity.push(result);
        self.store.write(&self.store.dir.fidelity(), &self.fidelity_report())
    }

    /// Rewrites `sessions.json` from every session and depth record so far (nothing when none).
    pub fn save_sessions(&self) -> Result<()> {
        match sessions::report(&self.metadata.run, &self.records, &self.session_cuts) {
            Some(report) => self.store.write(&self.store.dir.sessions(), &report),
            None => Ok(()),
        }
    }

    pub fn fidelity_report(&self) -> FidelityReport {
        FidelityReport {
            schema: fidelity::SCHEMA,
            run: self.metadata.run.clone(),
            groups: self.fidelity.clone(),
        }
    }

    /// Marks the run ended with `status`, writes metadata and summary, and renders the reports.
    pub fn finish(&mut self, status: RunStatus, error: Option<String>) -> Result<Summary> {
        self.metadata.status = status;
        self.metadata.error = error;
        self.metadata.ended_at = Some(now());
        self.metadata.machine_state.end = Some(crate::machine_state::sample());
        self.save_metadata()?;
        let summary = self.summary();
        self.store.write(&self.store.dir.summary(), &summary)?;
        // A report that cannot be drawn must not cost the run its records: warn and go on.
        if let Err(e) = crate::report::write(self.store.dir.path()) {
            eprintln!(
                "quantbench: writing the reports of {} failed: {e:#}",
                self.store.dir.path().display()
            );
        }
        let exported = summary
            .benchmarks
            .iter()
            .any(|b| b.ok > 0)
            .then(|| crate::export::write(self.store.dir.path(), crate::export::Format::Bmf));
        if let Some(Err(e)) = exported {
            eprintln!(
                "quantbench: writing bmf.json in {} failed: {e:#}",
                self.store.dir.path().display()
            );
        }
        Ok(summary)
    }
}

/// On Ctrl-C or SIGTERM: stop managed servers, mark the run interrupted, keep every record
/// written so far (the lock waits for a record being written), exit 130.
pub async fn stop_on_signal(journal: SharedJournal) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
        return;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
    // The lock first: a record being written is finished, and no new one starts against a server
    // we are about to stop.
    let mut journal = lock(&journal);
    managed::stop_all();
    let kept = journal.records.len();
    let _ = journal.finish(RunStatus::Interrupted, Some("interrupted by a signal".into()));
    eprintln!(
        "\nquantbench: interrupted; {kept} records kept in {}",
        journal.store.dir.path().display()
    );
    std::process::exit(130);
}
