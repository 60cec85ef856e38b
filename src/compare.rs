//! Regression verdicts: a run (candidate) against a baseline, per group × category × metric.
//!
//! The effect is the ratio of geometric means candidate / baseline with a 95 % interval on logs.
//! With one baseline run, the interval is Welch's over the samples: it covers sample noise within
//! the runs but not drift from run to run. With several baseline runs (repeated
//! `--save-baseline`), each run counts as one observation (its geometric mean) and the candidate
//! gets a prediction interval, so the interval includes the run-to-run spread. Mann–Whitney U is the robust check and Cliff's delta the
//! effect size, both over the samples. p-values are Holm-corrected across every comparison of
//! the run. A change is *regressed* or *improved* only
//! if the corrected p < α and the whole interval lies beyond the noise threshold in that
//! direction; *unchanged* if the whole interval lies within ±threshold; otherwise *inconclusive*.

use crate::analysis::{self, Better, MetricDef};
use crate::record::{self, GenerationRecord};
use crate::stats::{self, Interval};
use serde::{Deserialize, Serialize};

/// Defaults: 5 % noise threshold, α = 0.05.
pub const DEFAULT_NOISE: f64 = 0.05;
pub const ALPHA: f64 = 0.05;
/// Environment variable for the noise threshold (a fraction, e.g. 0.03).
pub const NOISE_ENV: &str = "QUANTBENCH_NOISE_THRESHOLD";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Regressed,
    Improved,
    Inconclusive,
    Unchanged,
}

/// How the interval was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Welch over the samples of one baseline run and the candidate.
    WithinRun,
    /// Run-level: each run's geometric mean is one observation.
    BetweenRuns,
    /// Paired over prompts (fidelity: the same prompts in both runs), t on per-prompt log-ratios.
    PairedPrompts,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub group: String,
    pub category: String,
    pub metric: String,
    pub better: Better,
    pub n_baseline: usize,
    pub n_candidate: usize,
    pub method: Method,
    /// Distinct runs on each side.
    pub baseline_runs: usize,
    pub candidate_runs: usize,
    /// Ratio of geometric means, candidate / baseline, and its 95 % interval.
    pub ratio: f64,
    pub interval: Interval,
    /// p of the test behind the interval (Welch on samples or on run means; a paired t over
    /// prompts for fidelity).
    pub welch_p: f64,
    /// That p after Holm's correction over all comparisons of the run.
    pub holm_p: f64,
    pub mann_whitney_p: Option<f64>,
    pub cliffs_delta: Option<f64>,
    pub verdict: Verdict,
}

impl Comparison {
    /// "regressed −7.1 % [−9.8 %, −4.4 %]" style change of the metric's value.
    pub fn change_text(&self) -> String {
        let pct = |r: f64| format!("{:+.1} %", (r - 1.0) * 100.0);
        format!(
            "{} [{}, {}]",
            pct(self.ratio),
            pct(self.interval.lower),
            pct(self.interval.upper)
        )
    }
}

/// `comparison.json`: the verdicts of a run against a named baseline, with the rule's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComparisonReport {
    pub baseline: String,
    pub noise_threshold: f64,
    pub alpha: f64,
    pub comparisons: Vec<Comparison>,
}

/// One benchmark's records, paired A/B and load generations excluded (analysed elsewhere).
fn of<'a>(records: &'a [GenerationRecord], group: &str, category: &str) -> Vec<&'a GenerationRecord> {
    records
        .iter()
        .filter(|r| r.group == group && r.category == category && r.is_ordinary())
        .collect()
}

/// Compares every benchmark and metric present in both; regressions sort first.
pub fn compare(baseline: &[GenerationRecord], candidate: &[GenerationRecord], noise: f64) -> Vec<Comparison> {
    decide(speed_rows(baseline, candidate), noise)
}

/// The speed comparisons (every metric of `analysis`), not yet decided.
pub fn speed_rows(baseline: &[GenerationRecord], candidate: &[GenerationRecord]) -> Vec<Comparison> {
    let mut rows = Vec::new();
    for (group, category) in record::benchmarks(candidate) {
        let (base, cand) = (of(baseline, &group, &category), of(candidate, &group, &category));
        if base.is_empty() {
            continue;
        }
        for def in &analysis::METRICS {
            if let Some(row) = compare_metric(def, &group, &category, &runs(def, &base), &runs(def, &cand)) {
                rows.push(row);
            }
        }
    }
    rows
}

/// Holm's correction over all `rows` (speed and fidelity together: one family per run), each
/// row's verdict, regressions first.
pub fn decide(mut rows: Vec<Comparison>, noise: f64) -> Vec<Comparison> {
    let holm = stats::holm(&rows.iter().map(|r| r.welch_p).collect::<Vec<_>>());
    for (row, p) in rows.iter_mut().zip(holm) {
        row.holm_p = p;
        row.verdict = verdict(&row.interval, p, row.better, noise);
    }
    rows.sort_by_key(|r| r.verdict);
    rows
}

/// A metric's values grouped by run, runs in first-seen order.
fn runs(def: &MetricDef, records: &[&GenerationRecord]) -> Vec<Vec<f64>> {
    record::run_ids(records.iter().copied())
        .iter()
        .map(|id| {
            analysis::values(
                def,
                &records.iter().copied().filter(|r| r.run == *id).collect::<Vec<_>>(),
            )
        })
        .filter(|v| !v.is_empty())
        .collect()
}

/// Each run's geometric mean (a run of one value is that value); None if a run has a value ≤ 0.
fn run_means(runs: &[Vec<f64>]) -> Option<Vec<f64>> {
    runs.iter()
        .map(|v| match v.as_slice() {
            [one] => (*one > 0.0).then_some(*one),
            _ => stats::geometric_mean_ci(v, analysis::LEVEL).map(|e| e.point),
        })
        .collect()
}

fn compare_metric(
    def: &MetricDef,
    group: &str,
    category: &str,
    base: &[Vec<f64>],
    cand: &[Vec<f64>],
) -> Option<Comparison> {
    let (base_all, cand_all) = (base.concat(), cand.concat());
    let (method, test) = if base.len() < 2 {
        (
            Method::WithinRun,
            stats::welch_log_ratio(&base_all, &cand_all, analysis::LEVEL)?,
        )
    } else {
        // Each run is one observation: its geometric mean. A run mean varies at least by its own
        // sampling noise (the mean of the runs' s²/n), which a few nearly equal runs would hide.
        let within: Vec<f64> = base
            .iter()
            .chain(cand)
            .filter_map(|v| stats::log_mean_variance(v))
            .collect();
        let floor = if within.is_empty() {
            0.0
        } else {
            within.iter().sum::<f64>() / within.len() as f64
        };
        // Several candidate runs are pooled into one (their geometric mean) and treated as a
        // single new run: conservative, since their average varies less than one run does.
        let cand_means = run_means(cand)?;
        let candidate = (cand_means.iter().map(|m| m.ln()).sum::<f64>() / cand_means.len() as f64).exp();
        (
            Method::BetweenRuns,
            stats::run_level_log_ratio(&run_means(base)?, candidate, floor, analysis::LEVEL)?,
        )
    };
    Some(Comparison {
        group: group.into(),
        category: category.into(),
        metric: def.name.into(),
        better: def.better,
        n_baseline: base_all.len(),
        n_candidate: cand_all.len(),
        method,
        baseline_runs: base.len(),
        candidate_runs: cand.len(),
        ratio: test.ratio,
        interval: test.interval,
        welch_p: test.p_value,
        holm_p: test.p_value,
        mann_whitney_p: stats::mann_whitney(&base_all, &cand_all).map(|(_, p)| p),
        cliffs_delta: stats::cliffs_delta(&base_all, &cand_all),
        verdict: Verdict::Inconclusive,
    })
}

/// The direction-aware decision rule (see the module docs).
pub fn verdict(ci: &Interval, holm_p: f64, better: Better, noise: f64) -> Verdict {
    let (up, down) = (ci.lower > 1.0 + noise, ci.upper < 1.0 - noise);
    if holm_p < ALPHA && (up || down) {
        let higher = up;
        return match (better, higher) {
            (Better::Higher, true) | (Better::Lower, false) => Verdict::Improved,
            _ => Verdict::Regressed,
        };
    }
    if ci.lower >= 1.0 - noise && ci.upper <= 1.0 + noise {
        return Verdict::Unchanged;
    }
    Verdict::Inconclusive
}

/// The noise threshold: `$QUANTBENCH_NOISE_THRESHOLD`, else the default.
pub fn noise_threshold() -> anyhow::Result<f64> {
    match std::env::var(NOISE_ENV) {
        Err(_) => Ok(DEFAULT_NOISE),
        Ok(v) => match v.parse::<f64>() {
            Ok(t) if (0.0..1.0).contains(&t) => Ok(t),
            _ => anyhow::bail!("{NOISE_ENV}={v:?}: expected a fraction such as 0.05"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ci(lower: f64, upper: f64) -> Interval {
        Interval {
            lower,
            upper,
            level: 0.95,
        }
    }

    #[test]
    fn verdicts_are_direction_aware_and_need_both_significance_and_size() {
        // Decode rate down 8 % [−10 %, −6 %]: the whole interval must clear the 5 % threshold.
        assert_eq!(
            verdict(&ci(0.90, 0.94), 0.001, Better::Higher, 0.05),
            Verdict::Regressed
        );
        assert_eq!(
            verdict(&ci(0.90, 0.96), 0.001, Better::Higher, 0.05),
            Verdict::Inconclusive
        );
        assert_eq!(
            verdict(&ci(0.90, 0.94), 0.2, Better::Higher, 0.05),
            Verdict::Inconclusive
        );
        // TTFT up 10 %: lower is better, so that is a regression.
        assert_eq!(verdict(&ci(1.07, 1.13), 0.001, Better::Lower, 0.05), Verdict::Regressed);
        assert_eq!(verdict(&ci(0.87, 0.93), 0.001, Better::Lower, 0.05), Verdict::Improved);
        assert_eq!(verdict(&ci(0.98, 1.03), 0.5, Better::Higher, 0.05), Verdict::Unchanged);
    }
}
