//! Results in the formats of tools built for tracking benchmarks over time, so a team's
//! dashboard (Bencher, github-action-benchmark) holds every run's numbers with its thresholds
//! and alerts. One flat list of measures ([`measures`], from `summary.json` and
//! `metadata.json`) is written in each format: `bmf.json` after every run, the others by
//! `quantbench export --format gab-bigger|gab-smaller RUN_DIR`.

mod bmf;
mod gab;

use crate::summary::Summary;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// An export format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Bencher Metric Format: `{benchmark: {measure: {value, lower_value, upper_value}}}`.
    Bmf,
    /// github-action-benchmark's `customBiggerIsBetter` array (one direction per file).
    GabBigger,
    /// github-action-benchmark's `customSmallerIsBetter` array.
    GabSmaller,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::Bmf, Format::GabBigger, Format::GabSmaller];

    pub fn name(self) -> &'static str {
        match self {
            Format::Bmf => "bmf",
            Format::GabBigger => "gab-bigger",
            Format::GabSmaller => "gab-smaller",
        }
    }

    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The file written in the run directory.
    pub fn file_name(self) -> &'static str {
        match self {
            Format::Bmf => "bmf.json",
            Format::GabBigger => "gab-bigger.json",
            Format::GabSmaller => "gab-smaller.json",
        }
    }
}

/// One exported figure.
#[derive(Clone, Debug, PartialEq)]
pub struct Measure {
    /// `model/quant/category`, or `model/quant` for figures of the whole group.
    pub benchmark: String,
    /// `decode_rate`, `ttft`, `e2e`, `effective_tok_s`, `load_time`, `rss_peak`, `roofline_pct`.
    pub name: &'static str,
    pub unit: &'static str,
    pub bigger_is_better: bool,
    pub value: f64,
    /// The 95 % interval, when there is one.
    pub lower: Option<f64>,
    pub upper: Option<f64>,
    /// How the value was made (for github-action-benchmark's `extra`).
    pub note: String,
}

/// Every exported figure of a run: per benchmark the decode rate (arithmetic mean), TTFT and
/// E2E (geometric means), `effective_tok_s` where the summary has it, and the decode rate as a
/// percentage of the group's roofline; per group the load time, peak RSS and roofline
/// percentage (median decode). Each with its 95 % interval where the summary has one.
pub fn measures(summary: &Summary, metadata: &serde_json::Value) -> Vec<Measure> {
    let mut out = Vec::new();
    let shown = [
        ("decode_rate", "decode_rate", "tok/s", 1.0, true),
        ("ttft_s", "ttft", "ms", 1e3, false),
        ("e2e_s", "e2e", "s", 1.0, false),
        ("effective_tok_s", "effective_tok_s", "tok/s", 1.0, true),
    ];
    for b in &summary.benchmarks {
        let benchmark = format!("{}/{}", b.group, b.category);
        for (metric, name, unit, scale, bigger_is_better) in shown {
            let Some(stats) = b.metrics.get(metric) else { continue };
            let Some(mean) = stats.mean.or_else(|| {
                stats.median.map(|m| crate::stats::Estimate {
                    point: m.point,
                    interval: None,
                })
            }) else {
                continue;
            };
            let kind = crate::util::serde_name(stats.mean_kind);
            let note = format!("{kind} mean of {} samples, 95 % interval", stats.n);
            out.push(measure(
                &benchmark,
                name,
                unit,
                bigger_is_better,
                mean.point * scale,
                mean.interval.map(|i| (i.lower * scale, i.upper * scale)),
                note,
            ));
        }
        let bound = summary.roofline.iter().find(|r| r.group == b.group);
        if let (Some(r), Some(mean)) = (bound, b.metrics.get("decode_rate").and_then(|m| m.mean)) {
            let pct = crate::roofline::percent_of(r.bound_tok_s, mean.point, mean.interval.as_ref());
            let note = format!("mean decode rate / bound of {:.1} tok/s", r.bound_tok_s);
            out.push(measure(
                &benchmark,
                "roofline_pct",
                "%",
                true,
                pct.point,
                pct.interval.map(|i| (i.lower, i.upper)),
                note,
            ));
        }
    }
    let mut groups: Vec<&str> = Vec::new();
    for b in &summary.benchmarks {
        if !groups.contains(&b.group.as_str()) {
            groups.push(&b.group);
        }
    }
    for group in groups {
        let run = metadata.get("groups").and_then(|g| g.as_array()).and_then(|g| {
            g.iter()
                .rev()
                .find(|g| g.get("name").and_then(|n| n.as_str()) == Some(group))
        });
        if let Some(load) = run.and_then(|g| g.get("load_time_s")?.as_f64()) {
            out.push(measure(
                group,
                "load_time",
                "s",
                false,
                load,
                None,
                "server start (or load request) until ready, one measurement".into(),
            ));
        }
        if let Some(peak) = run.and_then(|g| g.pointer("/memory/peak_rss_bytes")?.as_f64()) {
            out.push(measure(
                group,
                "rss_peak",
                "bytes",
                false,
                peak,
                None,
                "peak resident memory of the server's process tree".into(),
            ));
        }
        if let Some(r) = summary.roofline.iter().find(|r| r.group == group) {
            let note = format!(
                "median decode rate / (bandwidth {:.1} GB/s ÷ {} bytes per token)",
                r.bandwidth.bytes_per_s / 1e9,
                r.bytes_per_token
            );
            out.push(measure(
                group,
                "roofline_pct",
                "%",
                true,
                r.percent.point,
                r.percent.interval.map(|i| (i.lower, i.upper)),
                note,
            ));
        }
    }
    out.retain(|m| m.value.is_finite());
    out
}

fn measure(
    benchmark: &str,
    name: &'static str,
    unit: &'static str,
    bigger_is_better: bool,
    value: f64,
    interval: Option<(f64, f64)>,
    note: String,
) -> Measure {
    let (lower, upper) = interval
        .filter(|(l, u)| l.is_finite() && u.is_finite())
        .map_or((None, None), |(l, u)| (Some(l), Some(u)));
    Measure {
        benchmark: benchmark.to_owned(),
        name,
        unit,
        bigger_is_better,
        value,
        lower,
        upper,
        note,
    }
}

/// The document of `format` for these measures.
pub fn render(format: Format, measures: &[Measure]) -> serde_json::Value {
    match format {
        Format::Bmf => bmf::document(measures),
        Format::GabBigger => gab::document(measures, true),
        Format::GabSmaller => gab::document(measures, false),
    }
}

/// Writes `format` into the run directory `dir` (atomically) from its `summary.json` and
/// `metadata.json`; returns the file written.
pub fn write(dir: &Path, format: Format) -> Result<PathBuf> {
    let read = |name: &str| -> Result<String> {
        std::fs::read_to_string(dir.join(name)).with_context(|| format!("reading {}", dir.join(name).display()))
    };
    let summary: Summary = serde_json::from_str(&read("summary.json")?)
        .with_context(|| format!("parsing {}", dir.join("summary.json").display()))?;
    let metadata: serde_json::Value = read("metadata.json")
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let measures = measures(&summary, &metadata);
    if measures.is_empty() {
        bail!("{} has no measured figure to export", dir.display());
    }
    let path = dir.join(format.file_name());
    crate::util::write_json_atomic(&path, &render(format, &measures))?;
    Ok(path)
}
