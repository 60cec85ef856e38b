//! Paired A/B analysis. Two groups (say two quants) run interleaved — A B, B A, A B, … — on the
//! same prompts, so drift such as thermal throttling or background load hits both sides of a
//! pair and cancels in the per-pair log-ratio ln(B / A). The ratio of B to A is exp(mean
//! log-ratio) with a paired t-interval, checked by the Wilcoxon signed-rank test.

use crate::analysis::{self, Better};
use crate::record::GenerationRecord;
use crate::stats::{self, Interval};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairedComparison {
    pub name: String,
    pub a: String,
    pub b: String,
    pub category: String,
    pub metric: String,
    /// The session turn (from 0) of a per-turn metric of a paired session; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn: Option<u32>,
    pub better: Better,
    /// Pairs where both sides succeeded and the metric was measurable.
    pub n_pairs: usize,
    /// Ratio B / A (geometric mean of per-pair ratios) and its 95 % interval.
    pub ratio: f64,
    pub interval: Interval,
    /// Paired t-test on the log-ratios.
    pub t_p: f64,
    /// Wilcoxon signed-rank test on the log-ratios.
    pub wilcoxon_p: Option<f64>,
}

/// One side-by-side series of a paired comparison: what is compared, and the values of A and B,
/// pair by pair.
pub struct PairedValues<'a> {
    pub name: &'a str,
    pub a: &'a str,
    pub b: &'a str,
    pub category: &'a str,
    pub metric: &'a str,
    pub turn: Option<u32>,
    pub better: Better,
    pub xa: &'a [f64],
    pub xb: &'a [f64],
}

/// The ratio B / A of paired values with its interval and tests; None when too few pairs (or no
/// spread) give no interval. The one paired-ratio routine: categories and sessions alike.
pub fn compare(v: &PairedValues<'_>) -> Option<PairedComparison> {
    let test = stats::paired_log_ratio(v.xa, v.xb, analysis::LEVEL)?;
    let log_ratios: Vec<f64> = v.xa.iter().zip(v.xb).map(|(va, vb)| (vb / va).ln()).collect();
    Some(PairedComparison {
        name: v.name.into(),
        a: v.a.into(),
        b: v.b.into(),
        category: v.category.into(),
        metric: v.metric.into(),
        turn: v.turn,
        better: v.better,
        n_pairs: v.xa.len(),
        ratio: test.ratio,
        interval: test.interval,
        t_p: test.p_value,
        wilcoxon_p: stats::wilcoxon_signed_rank(&log_ratios).map(|(_, p)| p),
    })
}

/// Analyses the records of paired comparison `name` between groups `a` and `b` over prompt
/// categories (paired sessions are analysed per session and turn in `session::analysis`).
pub fn analyze(name: &str, a: &str, b: &str, records: &[GenerationRecord]) -> Vec<PairedComparison> {
    // (category, pair index) → (A record, B record)
    let mut pairs: BTreeMap<(String, u32), [Option<&GenerationRecord>; 2]> = BTreeMap::new();
    for r in records.iter().filter(|r| r.ok && !r.warmup && r.session.is_none()) {
        let Some(tag) = r.pair.as_ref().filter(|t| t.name == name) else {
            continue;
        };
        let side = usize::from(tag.side == "b");
        pairs.entry((r.category.clone(), tag.index)).or_default()[side] = Some(r);
    }
    let mut categories: Vec<String> = pairs.keys().map(|(c, _)| c.clone()).collect();
    categories.dedup();
    let mut out = Vec::new();
    for category in categories {
        for def in &analysis::METRICS {
            let (mut xa, mut xb) = (Vec::new(), Vec::new());
            for ((c, _), [ra, rb]) in &pairs {
                if *c != category {
                    continue;
                }
                if let (Some(va), Some(vb)) = (
                    ra.and_then(|r| (def.get)(&r.metrics)),
                    rb.and_then(|r| (def.get)(&r.metrics)),
                ) {
                    xa.push(va);
                    xb.push(vb);
                }
            }
            out.extend(compare(&PairedValues {
                name,
                a,
                b,
                category: &category,
                metric: def.name,
                turn: None,
                better: def.better,
                xa: &xa,
                xb: &xb,
            }));
        }
    }
    out
}
