//! Whether a run did what it planned: `complete` only when every planned benchmark ran,
//! `partial` when some groups or benchmarks did not, `failed` when nothing was measured — with
//! the counts that say so. A pure function of the plan, the summary and the records.

use crate::metadata::{RunCounts, RunStatus};
use crate::summary::Summary;

/// One benchmark the run planned.
#[derive(Clone, Debug, PartialEq)]
pub struct Planned {
    pub group: String,
    /// Prompt category, load kind, `fidelity`, or a paired comparison's category.
    pub benchmark: String,
    /// Measured samples planned (0 where the summary does not count samples: load, fidelity).
    pub samples: u32,
}

/// The run's status and counts. `ran_elsewhere` lists the (group, benchmark) pairs that ran but
/// are analysed outside the summary (load benchmarks, paired categories, fidelity passes);
/// `measured` is how many successful measured generations the run recorded of any kind.
pub fn assess(
    planned: &[Planned],
    summary: &Summary,
    ran_elsewhere: &[(String, String)],
    measured: usize,
) -> (RunStatus, RunCounts) {
    let mut groups: Vec<&str> = Vec::new();
    for p in planned {
        if !groups.contains(&p.group.as_str()) {
            groups.push(&p.group);
        }
    }
    let groups_planned = groups.len() as u32;
    let groups_not_started = summary
        .group_stops
        .iter()
        .filter(|s| !s.started && planned.iter().any(|p| p.group == s.group))
        .count() as u32;
    let mut counts = RunCounts {
        groups_planned,
        groups_not_started,
        benchmarks_planned: planned.len() as u32,
        ..RunCounts::default()
    };
    for b in &summary.benchmarks {
        counts.samples_ok += b.ok;
        counts.samples_attempted += b.attempted;
    }
    for p in planned {
        if ran_elsewhere.iter().any(|(g, b)| *g == p.group && *b == p.benchmark) {
            continue;
        }
        let ran = summary
            .benchmarks
            .iter()
            .find(|b| b.group == p.group && b.category == p.benchmark);
        if ran.is_none_or(|b| b.abandoned.is_some()) {
            counts.benchmarks_not_run += 1;
            counts.samples_attempted += p.samples.saturating_sub(ran.map_or(0, |b| b.attempted));
        }
    }
    // A fidelity pass (or another workload outside the summary) that ran measured something.
    let status = if measured == 0 && ran_elsewhere.is_empty() {
        RunStatus::Failed
    } else if counts.benchmarks_not_run > 0 || counts.groups_not_started > 0 {
        RunStatus::Partial
    } else {
        RunStatus::Complete
    };
    (status, counts)
}

/// The `error` of a run stopped by `e`: its message, led by `disk full:` when a write found no
/// space left (the message names the file).
pub fn failure_text(e: &anyhow::Error) -> String {
    let full = e
        .chain()
        .filter_map(|c| c.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::StorageFull);
    if full {
        format!("disk full: {e:#}")
    } else {
        format!("{e:#}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::{summarize, BenchmarkNote, GroupStop};

    fn planned(group: &str, benchmark: &str) -> Planned {
        Planned {
            group: group.into(),
            benchmark: benchmark.into(),
            samples: 10,
        }
    }

    #[test]
    fn a_benchmark_without_results_is_not_run_and_its_samples_count_as_attempted() {
        let plan = [planned("a/q", "short"), planned("a/q", "code"), planned("b/q", "short")];
        let notes = [BenchmarkNote {
            group: "b/q".into(),
            category: "short".into(),
            abandoned: Some("x".into()),
            stopped_with_group: true,
            ..Default::default()
        }];
        let mut summary = summarize("r", &[], &notes);
        summary.group_stops.push(GroupStop {
            group: "b/q".into(),
            started: false,
            reason: "x".into(),
        });
        let (status, counts) = assess(&plan, &summary, &[], 0);
        assert_eq!(status, RunStatus::Failed, "nothing measured");
        // "code" of a/q has no summary entry at all: it did not run either.
        assert_eq!(
            (
                counts.groups_planned,
                counts.groups_not_started,
                counts.benchmarks_planned,
                counts.benchmarks_not_run
            ),
            (2, 1, 3, 3)
        );
        assert_eq!((counts.samples_ok, counts.samples_attempted), (0, 30));
        assert_eq!(
            counts.text(),
            "1 of 2 groups did not start; 3 of 3 benchmarks did not run"
        );
        assert_eq!(assess(&plan, &summary, &[], 5).0, RunStatus::Partial);
        // A fidelity pass alone has no records in the summary, yet it measured: not `failed`.
        let fidelity_only = [planned("a/q", "fidelity")];
        let ran = [("a/q".to_owned(), "fidelity".to_owned())];
        assert_eq!(
            assess(&fidelity_only, &summarize("r", &[], &[]), &ran, 0).0,
            RunStatus::Complete
        );
        assert_eq!(
            RunCounts {
                benchmarks_planned: 4,
                ..RunCounts::default()
            }
            .text(),
            "all 4 benchmarks ran"
        );
    }

    #[test]
    fn load_paired_and_fidelity_benchmarks_count_as_run_from_outside_the_summary() {
        // Load, paired and fidelity results are not in the summary: the caller names them.
        let plan = [
            planned("a/q", "concurrency"),
            planned("paired/x", "short"),
            planned("a/q", "fidelity"),
        ];
        let summary = summarize("r", &[], &[]);
        let elsewhere: Vec<(String, String)> = plan.iter().map(|p| (p.group.clone(), p.benchmark.clone())).collect();
        let (status, counts) = assess(&plan, &summary, &elsewhere, 40);
        assert_eq!((status, counts.benchmarks_not_run), (RunStatus::Complete, 0));
        assert_eq!(
            assess(&plan, &summary, &elsewhere[..2], 40).1.text(),
            "1 of 3 benchmarks did not run"
        );
    }
}
