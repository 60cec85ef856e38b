//! Statistics of one benchmark's successful samples, metric by metric.
//!
//! Latencies (TTFT, E2E, inter-token gaps) are right-skewed and change multiplicatively, so their
//! mean is the geometric mean with a t-interval computed on logs; rates get the arithmetic mean
//! of per-generation rates with a t-interval. Every metric also gets a distribution-free
//! interval for its median, p90 with its interval when n allows, the coefficient of variation
//! and Tukey outlier counts. Rates are also aggregated as Σtokens / Σtime (time-weighted), which
//! differs from the mean of per-generation rates whenever answers differ in length.

use crate::record::{GenerationRecord, Metrics};
use crate::stats::{self, Estimate, QuantileEstimate, TukeyCounts};
use serde::{Deserialize, Serialize};

/// Confidence level of every interval.
pub const LEVEL: f64 = 0.95;

/// Which way is better for a metric (for verdicts).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    Higher,
    Lower,
}

/// How a metric's mean is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeanKind {
    /// Arithmetic mean, t-interval.
    Arithmetic,
    /// Geometric mean, t-interval on logs, back-transformed.
    Geometric,
}

pub struct MetricDef {
    pub name: &'static str,
    pub unit: &'static str,
    pub get: fn(&Metrics) -> Option<f64>,
    pub mean: MeanKind,
    pub better: Better,
}

/// The metrics analysed, in report order.
pub const METRICS: [MetricDef; 8] = [
    MetricDef {
        name: "decode_rate",
        unit: "tok/s",
        get: |m| m.decode_rate,
        mean: MeanKind::Arithmetic,
        better: Better::Higher,
    },
    MetricDef {
        name: "ttft_s",
        unit: "s",
        get: |m| m.ttft_s,
        mean: MeanKind::Geometric,
        better: Better::Lower,
    },
    MetricDef {
        name: "e2e_s",
        unit: "s",
        get: |m| m.e2e_s,
        mean: MeanKind::Geometric,
        better: Better::Lower,
    },
    MetricDef {
        name: "output_rate",
        unit: "tok/s",
        get: |m| m.output_rate,
        mean: MeanKind::Arithmetic,
        better: Better::Higher,
    },
    MetricDef {
        name: "prefill_rate",
        unit: "tok/s",
        get: |m| m.prefill_rate,
        mean: MeanKind::Arithmetic,
        better: Better::Higher,
    },
    MetricDef {
        name: "itl_p50_s",
        unit: "s",
        get: |m| m.itl_p50_s,
        mean: MeanKind::Geometric,
        better: Better::Lower,
    },
    MetricDef {
        name: "itl_p90_s",
        unit: "s",
        get: |m| m.itl_p90_s,
        mean: MeanKind::Geometric,
        better: Better::Lower,
    },
    MetricDef {
        name: "itl_p99_s",
        unit: "s",
        get: |m| m.itl_p99_s,
        mean: MeanKind::Geometric,
        better: Better::Lower,
    },
];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricStats {
    /// Samples where the metric was measurable.
    pub n: usize,
    pub unit: String,
    pub mean_kind: MeanKind,
    /// Mean with its 95 % interval (absent for n < 2).
    pub mean: Option<Estimate>,
    /// Median with a distribution-free order-statistic interval.
    pub median: Option<QuantileEstimate>,
    /// p90; its interval is absent when n is too small for 95 % coverage (see `p90_note`).
    pub p90: Option<QuantileEstimate>,
    pub p90_note: Option<String>,
    /// Sample standard deviation / mean.
    pub cv: Option<f64>,
    pub outliers: TukeyCounts,
    pub min: f64,
    pub max: f64,
}

pub fn metric_stats(def: &MetricDef, values: &[f64]) -> Option<MetricStats> {
    if values.is_empty() {
        return None;
    }
    // A zero (two events in one network read have a zero gap) has no logarithm: such a metric
    // gets the arithmetic mean, and `mean_kind` says so.
    let mean_kind = match def.mean {
        MeanKind::Geometric if values.iter().any(|v| *v <= 0.0) => MeanKind::Arithmetic,
        kind => kind,
    };
    let mean = match mean_kind {
        MeanKind::Arithmetic => stats::mean_ci(values, LEVEL),
        MeanKind::Geometric => stats::geometric_mean_ci(values, LEVEL),
    };
    let p90 = stats::quantile_ci(values, 0.9, LEVEL);
    let p90_note = p90.as_ref().filter(|q| q.interval.is_none()).map(|_| {
        format!(
            "n too small: a 95 % interval for p90 needs n ≥ 29 (have {})",
            values.len()
        )
    });
    Some(MetricStats {
        n: values.len(),
        unit: def.unit.into(),
        mean_kind,
        mean,
        median: stats::quantile_ci(values, 0.5, LEVEL),
        p90,
        p90_note,
        cv: stats::cv(values),
        outliers: stats::tukey_outliers(values),
        min: values.iter().copied().fold(f64::INFINITY, f64::min),
        max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    })
}

/// The values of one metric over successful, non-warm-up records.
pub fn values(def: &MetricDef, records: &[&GenerationRecord]) -> Vec<f64> {
    records
        .iter()
        .filter(|r| r.ok && !r.warmup)
        .filter_map(|r| (def.get)(&r.metrics))
        .collect()
}

/// Rates as Σtokens / Σtime over the samples, with delta-method intervals.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PooledRates {
    /// Σ(N − n₁ − n_after) / Σ(t_last − t_first).
    pub decode_rate: Option<Estimate>,
    /// ΣN / Σe2e.
    pub output_rate: Option<Estimate>,
}

pub fn pooled_rates(records: &[&GenerationRecord]) -> PooledRates {
    let ok = || records.iter().filter(|r| r.ok && !r.warmup);
    let (mut decode_tokens, mut decode_secs) = (Vec::new(), Vec::new());
    let (mut out_tokens, mut out_secs) = (Vec::new(), Vec::new());
    for r in ok() {
        let (Some(n), Some(end)) = (r.tokens.completion, r.t.end_ns) else {
            continue;
        };
        out_tokens.push(n as f64);
        out_secs.push(end as f64 / 1e9);
        let span =
            r.t.first_token_ns
                .zip(r.t.last_token_ns)
                .and_then(|(first, last)| last.checked_sub(first));
        if let (Some(span), Some(n1), true) = (span, r.tokens.first_event_tokens, r.metrics.decode_rate.is_some()) {
            decode_tokens.push(n as f64 - n1 - r.tokens.after_last_event as f64);
            decode_secs.push(span as f64 / 1e9);
        }
    }
    PooledRates {
        decode_rate: stats::ratio_of_sums_ci(&decode_tokens, &decode_secs, LEVEL),
        output_rate: stats::ratio_of_sums_ci(&out_tokens, &out_secs, LEVEL),
    }
}
