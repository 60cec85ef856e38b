//! The run summary: per group × category, sample and failure counts, provenance tallies, and
//! each metric's statistics over the successful, non-warm-up samples.

use crate::analysis::{self, MetricStats, PooledRates};
use crate::record::GenerationRecord;
use crate::util::serde_name;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const SUMMARY_SCHEMA: u32 = 2;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub schema: u32,
    pub run: String,
    pub benchmarks: Vec<BenchmarkSummary>,
    /// Groups stopped as a whole, each said once (its benchmarks point here).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_stops: Vec<GroupStop>,
    /// Per group with a known model file: decode as a percentage of the memory-bandwidth bound
    /// (see `roofline`); filled from the run's metadata, absent when nothing could be computed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roofline: Vec<crate::roofline::GroupRoofline>,
}

/// A group that did not start, or that was stopped as a whole: one reason in one line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupStop {
    pub group: String,
    /// Whether its server started (false: nothing of the group ran).
    pub started: bool,
    pub reason: String,
}

impl GroupStop {
    /// Why to stop a group whose first benchmark's warm-ups all failed with one HTTP status
    /// (a server that rejects every request: wrong model, wrong path), once `enough` have;
    /// `failures` are (status, error) of each failed warm-up.
    pub fn rejected_warmups(failures: &[(Option<u16>, String)], enough: u32) -> Option<String> {
        let (Some(first), Some((_, last))) = (failures.first().and_then(|f| f.0), failures.last()) else {
            return None;
        };
        let same = failures.iter().all(|f| f.0 == Some(first));
        (same && failures.len() as u32 >= enough.max(1)).then(|| {
            format!(
                "all {} warm-ups of its first benchmark were rejected: {last}",
                failures.len()
            )
        })
    }

    /// "smollm2/q4_1 did not start: …" or "smollm2/q4_1 was stopped: …".
    pub fn text(&self) -> String {
        format!(
            "{} {}: {}",
            self.group,
            if self.started { "was stopped" } else { "did not start" },
            self.reason
        )
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchmarkSummary {
    pub group: String,
    pub category: String,
    /// Non-warm-up generations attempted, successful and failed.
    pub attempted: u32,
    pub ok: u32,
    pub failed: u32,
    /// ok / attempted; absent when nothing was attempted.
    pub pass_rate: Option<f64>,
    pub warmups: u32,
    /// Failure reasons and how often each occurred.
    pub failures: BTreeMap<String, u32>,
    /// Why the benchmark stopped early, if it did.
    pub abandoned: Option<String>,
    /// Stopped with its whole group: the reason is the group's, in `Summary::group_stops`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stopped_with_group: bool,
    /// With adaptive sampling: why sampling stopped (interval reached, sample or time limit).
    pub sampling_stop: Option<String>,
    /// Where the successful samples' completion counts came from.
    pub completion_sources: BTreeMap<String, u32>,
    /// How many successful samples carry each flag.
    pub flags: BTreeMap<String, u32>,
    /// Per metric, over successful samples (see `analysis`).
    pub metrics: IndexMap<String, MetricStats>,
    /// Rates as Σtokens / Σtime.
    pub pooled: PooledRates,
    /// Scores of the answers whose prompts carry a check (see `quality`); absent without any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<QualitySummary>,
    /// The machine's state when the benchmark started (see `machine_state`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_state: Option<crate::machine_state::MachineState>,
    /// A trend in the decode rate over the samples in the order they ran (see `drift`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<crate::drift::Drift>,
    /// Speculative decoding, over the successful samples whose server reported draft counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft: Option<DraftSummary>,
}

/// Draft tokens proposed and accepted, summed over the samples, as the server counted them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DraftSummary {
    /// The server report the counts came from (e.g. `llama-server timings`).
    pub source: String,
    /// Samples that reported draft counts.
    pub samples: u32,
    pub drafted: u64,
    pub accepted: u64,
    /// accepted / drafted, pooled over the samples; absent when nothing was drafted.
    pub acceptance: Option<f64>,
}

fn draft(ok: &[&GenerationRecord]) -> Option<DraftSummary> {
    let counts: Vec<(&str, u64, u64)> = ok
        .iter()
        .filter_map(|r| r.server.as_ref())
        .filter_map(|s| Some((s.source.as_str(), s.draft_n?, s.draft_accepted?)))
        .collect();
    let (source, _, _) = counts.first()?;
    let (drafted, accepted) = counts.iter().fold((0, 0), |(d, a), (_, dn, an)| (d + dn, a + an));
    Some(DraftSummary {
        source: (*source).to_owned(),
        samples: counts.len() as u32,
        drafted,
        accepted,
        acceptance: (drafted > 0).then(|| accepted as f64 / drafted as f64),
    })
}

/// How many checked answers passed, with a Wilson 95 % interval on the pass rate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QualitySummary {
    /// Successful samples whose answer was scored with a verdict.
    pub scored: u32,
    pub passed: u32,
    /// Scored without a verdict (e.g. no parser for the language here).
    pub unverified: u32,
    pub pass_rate: Option<crate::stats::Estimate>,
}

/// The checked answers among `ok` (successful generations); None when none was checked.
pub fn quality(ok: &[&GenerationRecord]) -> Option<QualitySummary> {
    let scores: Vec<&crate::quality::Score> = ok.iter().filter_map(|r| r.quality.as_ref()).collect();
    if scores.is_empty() {
        return None;
    }
    let scored = scores.iter().filter(|s| s.passed.is_some()).count() as u32;
    let passed = scores.iter().filter(|s| s.passed == Some(true)).count() as u32;
    let pass_rate = (scored > 0).then(|| crate::stats::Estimate {
        point: f64::from(passed) / f64::from(scored),
        interval: crate::stats::wilson_interval(passed.into(), scored.into(), analysis::LEVEL),
    });
    Some(QualitySummary {
        scored,
        passed,
        unverified: scores.len() as u32 - scored,
        pass_rate,
    })
}

/// What happened to a benchmark besides its records.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BenchmarkNote {
    pub group: String,
    pub category: String,
    pub abandoned: Option<String>,
    pub sampling_stop: Option<String>,
    /// Stopped with its whole group (see [`GroupStop`]).
    #[serde(default)]
    pub stopped_with_group: bool,
    /// The machine's state when the benchmark started.
    #[serde(default)]
    pub machine_state: Option<crate::machine_state::MachineState>,
}

/// Summarises records of one run, with the notes kept while it ran. Benchmarks appear in the
/// order of their first record (or note). Paired A/B and load generations are left to `paired` and `load`.
pub fn summarize(run: &str, records: &[GenerationRecord], notes: &[BenchmarkNote]) -> Summary {
    let mut keys = crate::record::benchmarks(records);
    let records: Vec<&GenerationRecord> = records.iter().filter(|r| r.is_ordinary()).collect();
    for n in notes {
        if !keys.iter().any(|(g, c)| *g == n.group && *c == n.category) {
            keys.push((n.group.clone(), n.category.clone()));
        }
    }
    let benchmarks = keys
        .into_iter()
        .map(|(group, category)| {
            let of_bench = records
                .iter()
                .copied()
                .filter(|r| r.group == group && r.category == category);
            let note = notes
                .iter()
                .find(|n| n.group == group && n.category == category)
                .cloned()
                .unwrap_or_default();
            benchmark(&group, &category, of_bench, note)
        })
        .collect();
    Summary {
        schema: SUMMARY_SCHEMA,
        run: run.to_owned(),
        benchmarks,
        group_stops: Vec::new(),
        roofline: Vec::new(),
    }
}

fn benchmark<'a>(
    group: &str,
    category: &str,
    records: impl Iterator<Item = &'a GenerationRecord>,
    note: BenchmarkNote,
) -> BenchmarkSummary {
    let (warmups, samples): (Vec<_>, Vec<_>) = records.partition(|r| r.warmup);
    let ok: Vec<&GenerationRecord> = samples.iter().copied().filter(|r| r.ok).collect();
    let mut failures = BTreeMap::new();
    for r in samples.iter().filter(|r| !r.ok) {
        *failures.entry(r.error.clone().unwrap_or_default()).or_insert(0) += 1;
    }
    let mut completion_sources = BTreeMap::new();
    let mut flags = BTreeMap::new();
    for r in &ok {
        if let Some(source) = r.tokens.completion_source {
            *completion_sources.entry(serde_name(source)).or_insert(0) += 1;
        }
        for flag in &r.flags {
            *flags.entry(serde_name(flag)).or_insert(0) += 1;
        }
    }
    let metrics = analysis::METRICS
        .iter()
        .filter_map(|def| analysis::metric_stats(def, &analysis::values(def, &ok)).map(|s| (def.name.to_owned(), s)))
        .collect();
    let attempted = samples.len() as u32;
    BenchmarkSummary {
        group: group.to_owned(),
        category: category.to_owned(),
        attempted,
        ok: ok.len() as u32,
        failed: attempted - ok.len() as u32,
        pass_rate: (attempted > 0).then(|| ok.len() as f64 / attempted as f64),
        warmups: warmups.len() as u32,
        failures,
        abandoned: note.abandoned,
        stopped_with_group: note.stopped_with_group,
        sampling_stop: note.sampling_stop,
        completion_sources,
        flags,
        metrics,
        pooled: analysis::pooled_rates(&ok),
        quality: quality(&ok),
        machine_state: note.machine_state,
        drift: crate::drift::test("decode_rate", &in_sample_order(&ok)),
        draft: draft(&ok),
    }
}

/// Decode rates of the successful samples in the order they ran (records are kept in that order;
/// adaptive sampling continues the index).
fn in_sample_order(ok: &[&GenerationRecord]) -> Vec<f64> {
    let mut rates: Vec<(u32, f64)> = ok
        .iter()
        .filter_map(|r| Some((r.sample, r.metrics.decode_rate?)))
        .collect();
    rates.sort_by_key(|(sample, _)| *sample);
    rates.into_iter().map(|(_, rate)| rate).collect()
}
