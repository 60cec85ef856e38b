//! Reports of a run, rendered from what the run directory holds (records, summary, metadata,
//! verdicts), so a report can be rebuilt at any time with `quantbench report RUN_DIR`:
//! `index.html` (self-contained, inline SVG charts), `summary.md` and `generations.csv`, one
//! [`Exporter`] each; and `history::write` for the page listing every run.

mod answer;
pub mod charts;
pub mod console;
mod csv;
mod gap_cdf;
pub mod history;
mod html;
mod load;
mod machine;
mod markdown;
mod markup;
mod quant;
pub mod sanitize;
mod session;
mod thinning;

use crate::compare::ComparisonReport;
use crate::gap_distribution::GapDistribution;
use crate::metadata::RecordedMetadata;
use crate::paired::PairedComparison;
use crate::record::{GenerationRecord, PairTag};
use crate::stats::Interval;
use crate::store::RunDir;
use crate::summary::{BenchmarkNote, BenchmarkSummary, Summary};
use anyhow::{Context, Result};
use indexmap::IndexMap;
use std::path::{Path, PathBuf};

/// One output format of a run report.
pub trait Exporter {
    /// The file written in the run directory.
    fn file_name(&self) -> &'static str;
    fn render(&self, run: &RunData) -> Result<String>;
}

/// Every run-report format.
pub fn exporters() -> [&'static dyn Exporter; 3] {
    [&html::Html, &markdown::Markdown, &csv::Csv]
}

/// Everything a report shows, as read from a run directory. `generations.jsonl` is read as a
/// stream and kept only as the figures need it, so a long run's report needs a fraction of its
/// records file in memory.
pub struct RunData {
    pub dir: PathBuf,
    pub run: String,
    /// Every record, without its bulk (answer text and gaps: see `GenerationRecord::without_bulk`).
    pub records: Vec<GenerationRecord>,
    /// Per group, in first-seen order, the inter-token gaps of its measured samples, exactly.
    pub gaps: IndexMap<String, GapDistribution>,
    /// The whole record of each benchmark's typical generation (see [`representative`]).
    examples: Vec<GenerationRecord>,
    pub summary: Summary,
    /// `metadata.json` as written by the run, for the page's full listing of it.
    pub metadata: serde_json::Value,
    /// The same, typed: what the reports look up in it.
    pub info: RecordedMetadata,
    pub comparison: Option<ComparisonReport>,
    pub paired: Vec<PairedComparison>,
    /// `concurrency.json` and `prefill.json` of load benchmarks, when they ran.
    pub load: Option<crate::load::analysis::LoadReport>,
    pub prefill: Option<crate::prefill::PrefillReport>,
    /// `fidelity.json`, when a fidelity pass ran.
    pub fidelity: Option<crate::fidelity::FidelityReport>,
    /// `sessions.json`, when the agent session or depth workloads ran.
    pub sessions: Option<crate::session::analysis::SessionReport>,
}

impl RunData {
    /// Reads a run directory. Only `generations.jsonl` is required: a run killed before its
    /// summary was written gets one computed from its records.
    pub fn load(dir: &Path) -> Result<RunData> {
        let files = RunDir::new(dir);
        let (mut records, mut lines, mut gaps) = (Vec::new(), Vec::new(), IndexMap::<String, GapDistribution>::new());
        crate::record_stream::for_each(&files.generations(), |line, r| {
            if is_sample(&r) {
                match gaps.get_mut(&r.group) {
                    Some(d) => d.add(&r.itl_us),
                    None => gaps.entry(r.group.clone()).or_default().add(&r.itl_us),
                }
            }
            records.push(r.without_bulk());
            lines.push(line);
            Ok(())
        })?;
        let metadata_path = files.metadata();
        let metadata = read_json::<serde_json::Value>(&metadata_path)?.unwrap_or(serde_json::Value::Null);
        let info =
            RecordedMetadata::from_json(&metadata).with_context(|| format!("reading {}", metadata_path.display()))?;
        let run = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let summary = match read_json::<Summary>(&files.summary())? {
            Some(summary) => summary,
            None => crate::summary::summarize(&run, &records, &Vec::<BenchmarkNote>::new()),
        };
        // A run stopped during its session workload has records but no `sessions.json` yet.
        let sessions = match read_json(&files.sessions())? {
            Some(report) => Some(report),
            None => crate::session::analysis::report(&run, &records, &[]),
        };
        let typical: Vec<usize> = summary
            .benchmarks
            .iter()
            .filter_map(|b| typical(&records, b))
            .map(|i| lines[i])
            .collect();
        let examples = crate::record_stream::read_lines(&files.generations(), &typical)?
            .into_iter()
            .map(|(_, r)| r)
            .collect();
        Ok(RunData {
            dir: dir.to_owned(),
            run,
            records,
            gaps,
            examples,
            summary,
            metadata,
            info,
            comparison: read_json(&files.comparison())?,
            paired: read_json(&files.paired())?.unwrap_or_default(),
            load: read_json(&files.load())?,
            prefill: read_json(&files.prefill())?,
            fidelity: read_json(&files.fidelity())?,
            sessions,
        })
    }

    /// Groups in the order they ran; a group's index is its colour everywhere on the page.
    pub fn groups(&self) -> Vec<&str> {
        distinct(self.summary.benchmarks.iter().map(|b| b.group.as_str()))
    }

    /// Categories in first-seen order.
    pub fn categories(&self) -> Vec<&str> {
        distinct(self.summary.benchmarks.iter().map(|b| b.category.as_str()))
    }

    pub fn benchmark(&self, group: &str, category: &str) -> Option<&BenchmarkSummary> {
        self.summary
            .benchmarks
            .iter()
            .find(|b| b.group == group && b.category == category)
    }

    /// Successful measured samples of a benchmark (no warm-ups, no paired or load generations).
    pub fn samples<'a>(
        &'a self,
        group: &'a str,
        category: Option<&'a str>,
    ) -> impl Iterator<Item = &'a GenerationRecord> + 'a {
        self.records
            .iter()
            .filter(move |r| is_sample(r) && r.group == group && category.is_none_or(|c| r.category == c))
    }

    /// A group's model file size in bytes, when known.
    pub fn model_bytes(&self, group: &str) -> Option<u64> {
        self.info.group_run(group)?.model_file_bytes
    }
}

/// A successful measured sample of an ordinary benchmark: what the figures are made of.
fn is_sample(r: &GenerationRecord) -> bool {
    r.ok && !r.warmup && r.is_ordinary()
}

/// The distinct values, in first-seen order.
pub fn distinct<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for v in values {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// Reads a JSON document; None when the file does not exist.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .with_context(|| format!("reading {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Writes every report of the run in `dir`, each atomically, then the history page of the
/// directory holding it. Returns the files written.
pub fn write(dir: &Path) -> Result<Vec<PathBuf>> {
    let run = RunData::load(dir)?;
    let mut written = Vec::new();
    for exporter in exporters() {
        let path = dir.join(exporter.file_name());
        let text = exporter
            .render(&run)
            .with_context(|| format!("rendering {}", path.display()))?;
        crate::util::write_atomic(&path, text.as_bytes())?;
        written.push(path);
    }
    // A bare run id names a directory of the current one.
    if let Some(root) = dir.parent() {
        written.push(history::write(if root.as_os_str().is_empty() {
            Path::new(".")
        } else {
            root
        })?);
    }
    Ok(written)
}

/// How a metric is shown in tables: label, unit and the factor from the stored unit.
pub struct Shown {
    pub metric: &'static str,
    pub label: &'static str,
    pub unit: &'static str,
    pub scale: f64,
}

pub const DECODE: Shown = Shown {
    metric: "decode_rate",
    label: "Decode",
    unit: "tok/s",
    scale: 1.0,
};
pub const TTFT: Shown = Shown {
    metric: "ttft_s",
    label: "TTFT",
    unit: "ms",
    scale: 1e3,
};
pub const E2E: Shown = Shown {
    metric: "e2e_s",
    label: "E2E",
    unit: "s",
    scale: 1.0,
};
pub const PREFILL: Shown = Shown {
    metric: "prefill_rate",
    label: "Prefill",
    unit: "tok/s",
    scale: 1.0,
};

/// A number, three significant digits.
pub fn num(v: f64) -> String {
    charts::compact(v)
}

/// "132 [128, 136]"; the interval is left out when there is none.
pub fn with_interval(point: f64, interval: Option<&Interval>, scale: f64) -> String {
    match interval {
        Some(i) => format!(
            "{} [{}, {}]",
            num(point * scale),
            num(i.lower * scale),
            num(i.upper * scale)
        ),
        None => num(point * scale),
    }
}

/// A benchmark's mean (the metric's own kind of mean) with its interval, or "–".
pub fn mean_text(b: &BenchmarkSummary, shown: &Shown) -> String {
    b.metrics
        .get(shown.metric)
        .and_then(|m| m.mean.as_ref())
        .map_or("–".into(), |e| {
            with_interval(e.point, e.interval.as_ref(), shown.scale)
        })
}

/// A benchmark's median with its distribution-free interval, or "–".
pub fn median_text(b: &BenchmarkSummary, shown: &Shown) -> String {
    b.metrics
        .get(shown.metric)
        .and_then(|m| m.median.as_ref())
        .map_or("–".into(), |q| {
            with_interval(q.point, q.interval.as_ref(), shown.scale)
        })
}

/// A benchmark's mean as a chart point in the shown unit, with its interval (a point without
/// one when n < 2).
pub fn mean_point(b: &BenchmarkSummary, shown: &Shown) -> Option<charts::Point> {
    let mean = b.metrics.get(shown.metric)?.mean?;
    Some(scaled_point(mean.point, mean.interval.as_ref(), shown.scale))
}

/// An estimate as a chart point (scaled); a point without bars when it has no interval.
pub fn scaled_point(point: f64, interval: Option<&Interval>, scale: f64) -> charts::Point {
    let (lower, upper) = interval.map_or((point, point), |i| (i.lower, i.upper));
    charts::Point {
        value: point * scale,
        lower: lower * scale,
        upper: upper * scale,
    }
}

/// A quantile as a chart point (scaled), its interval when n allowed one.
pub fn quantile_point(q: Option<&crate::stats::QuantileEstimate>, scale: f64) -> Option<charts::Point> {
    q.map(|q| scaled_point(q.point, q.interval.as_ref(), scale))
}

/// "132 [128, 136]" for a quantile, or "–".
pub fn quantile_text(q: Option<&crate::stats::QuantileEstimate>, scale: f64) -> String {
    q.map_or("–".into(), |q| with_interval(q.point, q.interval.as_ref(), scale))
}

/// "7/10 passed (70 % [40, 89])" for benchmarks whose prompts carry checks (see `quality`).
pub fn quality_text(b: &BenchmarkSummary) -> Option<String> {
    let q = b.quality.as_ref()?;
    let pct = |v: f64| format!("{:.0}", v * 100.0);
    let mut text = format!("{}/{} passed", q.passed, q.scored);
    if let Some(rate) = &q.pass_rate {
        match &rate.interval {
            Some(i) => text.push_str(&format!(
                " ({} % [{}, {}])",
                pct(rate.point),
                pct(i.lower),
                pct(i.upper)
            )),
            None => text.push_str(&format!(" ({} %)", pct(rate.point))),
        }
    }
    if q.unverified > 0 {
        text.push_str(&format!(", {} not verifiable here", q.unverified));
    }
    Some(text)
}

/// How much a reader should worry about a note.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// The numbers rest on estimates or on fewer samples than planned.
    Warning,
    /// Context for reading the numbers.
    Info,
}

/// The note of a benchmark stopped with its group, whose reason is said once for the group.
pub const GROUP_NOTE: &str = "not run: see the note on its group";

/// What a reader must know before trusting a benchmark's numbers: estimated counts, failures,
/// early stops, disagreement with the server's own timings. Shown beside the numbers.
pub fn provenance_notes(b: &BenchmarkSummary) -> Vec<(Severity, String)> {
    let mut notes = Vec::new();
    match &b.abandoned {
        Some(_) if b.stopped_with_group => notes.push((Severity::Warning, GROUP_NOTE.to_owned())),
        Some(reason) => notes.push((Severity::Warning, format!("stopped early: {reason}"))),
        None => {}
    }
    if b.failed > 0 {
        notes.push((
            Severity::Warning,
            format!("{} of {} samples failed", b.failed, b.attempted),
        ));
    }
    let flag = |name: &str| b.flags.get(name).copied().unwrap_or(0);
    if let Some(n) = b.completion_sources.get("events_estimate") {
        notes.push((
            Severity::Warning,
            format!(
                "{n} of {} token counts estimated from stream events (no usage, no server timings)",
                b.ok
            ),
        ));
    }
    let warnings = [
        ("reasoning_estimated", "reasoning counts estimated from stream events"),
        (
            "server_disagrees",
            "decode rate disagrees with the server's own timings",
        ),
        (
            "over_max_tokens",
            "more tokens than max_tokens (the server ignored the limit)",
        ),
        ("stale_connection_retried", "timed from a re-sent request (older build)"),
        ("throttled", "measured while the machine was throttled"),
        ("on_battery", "measured on battery power"),
    ];
    for (name, text) in warnings {
        if flag(name) > 0 {
            notes.push((Severity::Warning, format!("{} of {}: {text}", flag(name), b.ok)));
        }
    }
    if let Some(d) = b.drift.as_ref().filter(|d| d.flagged) {
        notes.push((
            Severity::Warning,
            format!(
                "the machine's speed changed during this benchmark: {}",
                crate::drift::text(d)
            ),
        ));
    }
    let infos = [
        ("early_stop", "stopped before max_tokens (shorter answers)"),
        ("prefix_cache_hit", "prompt partly served from the prefix cache"),
        ("no_done_marker", "stream ended without [DONE]"),
    ];
    for (name, text) in infos {
        if flag(name) > 0 {
            notes.push((Severity::Info, format!("{} of {}: {text}", flag(name), b.ok)));
        }
    }
    if let Some(stop) = &b.sampling_stop {
        notes.push((Severity::Info, format!("adaptive sampling: {stop}")));
    }
    notes
}

/// The generation shown as a group's example, whole: in `category`, the successful sample whose
/// decode rate is closest to the median (a typical one, not the best).
pub fn representative<'a>(run: &'a RunData, group: &str, category: &str) -> Option<&'a GenerationRecord> {
    run.examples.iter().find(|r| r.group == group && r.category == category)
}

/// The index in `records` of benchmark `b`'s typical generation (see [`representative`]).
fn typical(records: &[GenerationRecord], b: &BenchmarkSummary) -> Option<usize> {
    let median = b.metrics.get("decode_rate")?.median.as_ref()?.point;
    let distance = |r: &GenerationRecord| (r.metrics.decode_rate.unwrap_or(f64::NAN) - median).abs();
    let samples = records.iter().enumerate().filter(|(_, r)| {
        is_sample(r) && r.group == b.group && r.category == b.category && r.metrics.decode_rate.is_some()
    });
    samples
        .min_by(|(_, x), (_, y)| distance(x).total_cmp(&distance(y)))
        .map(|(i, _)| i)
}

/// "pair name #i (a)" for paired generations, for tables that list them.
pub fn pair_text(tag: &PairTag) -> String {
    format!("{} #{} ({})", tag.name, tag.index, tag.side)
}
