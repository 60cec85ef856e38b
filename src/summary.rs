//! The run summary: per group × category, sample and failure counts, provenance tallies, and
//! the mean and median of each metric over the successful, non-warm-up samples.

use crate::record::{GenerationRecord, Metrics};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use statrs::statistics::{Data, Median, Statistics};
use std::collections::BTreeMap;

pub const SUMMARY_SCHEMA: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub schema: u32,
    pub run: String,
    pub benchmarks: Vec<BenchmarkSummary>,
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
    /// Where the successful samples' completion counts came from.
    pub completion_sources: BTreeMap<String, u32>,
    /// How many successful samples carry each flag.
    pub flags: BTreeMap<String, u32>,
    pub metrics: IndexMap<String, MetricSummary>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricSummary {
    /// Samples where the metric could be measured.
    pub n: usize,
    pub mean: f64,
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

/// The metrics summarised, with their record field.
pub const METRICS: [(&str, fn(&Metrics) -> Option<f64>); 8] = [
    ("ttft_s", |m| m.ttft_s),
    ("decode_rate", |m| m.decode_rate),
    ("e2e_s", |m| m.e2e_s),
    ("output_rate", |m| m.output_rate),
    ("prefill_rate", |m| m.prefill_rate),
    ("itl_p50_s", |m| m.itl_p50_s),
    ("itl_p90_s", |m| m.itl_p90_s),
    ("itl_p99_s", |m| m.itl_p99_s),
];

/// Summarises records of one run; `abandoned` gives (group, category, reason) of benchmarks that
/// were stopped. Benchmarks appear in the order of their first record.
pub fn summarize(run: &str, records: &[GenerationRecord], abandoned: &[(String, String, String)]) -> Summary {
    let mut keys: Vec<(&str, &str)> = Vec::new();
    for r in records {
        if !keys.contains(&(r.group.as_str(), r.category.as_str())) {
            keys.push((&r.group, &r.category));
        }
    }
    for (g, c, _) in abandoned {
        if !keys.contains(&(g.as_str(), c.as_str())) {
            keys.push((g, c));
        }
    }
    let benchmarks = keys
        .into_iter()
        .map(|(group, category)| {
            let of_bench = records.iter().filter(|r| r.group == group && r.category == category);
            let reason = abandoned.iter().find(|(g, c, _)| g == group && c == category).map(|(_, _, r)| r.clone());
            benchmark(group, category, of_bench, reason)
        })
        .collect();
    Summary { schema: SUMMARY_SCHEMA, run: run.to_owned(), benchmarks }
}

fn benchmark<'a>(group: &str, category: &str, records: impl Iterator<Item = &'a GenerationRecord>, abandoned: Option<String>) -> BenchmarkSummary {
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
    let metrics = METRICS
        .iter()
        .filter_map(|(name, get)| {
            let values: Vec<f64> = ok.iter().filter_map(|r| get(&r.metrics)).collect();
            describe(&values).map(|s| (name.to_string(), s))
        })
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
        abandoned,
        completion_sources,
        flags,
        metrics,
    }
}

fn describe(values: &[f64]) -> Option<MetricSummary> {
    if values.is_empty() {
        return None;
    }
    Some(MetricSummary {
        n: values.len(),
        mean: values.mean(),
        median: Data::new(values.to_vec()).median(),
        min: values.min(),
        max: values.max(),
    })
}

/// The snake_case name serde gives an enum value (for map keys).
pub fn serde_name(value: impl Serialize) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}
