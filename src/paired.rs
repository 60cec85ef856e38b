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

/// Analyses the records of paired comparison `name` between groups `a` and `b`.
pub fn analyze(name: &str, a: &str, b: &str, records: &[GenerationRecord]) -> Vec<PairedComparison> {
    // (category, pair index) → (A record, B record)
    let mut pairs: BTreeMap<(String, u32), [Option<&GenerationRecord>; 2]> = BTreeMap::new();
    for r in records.iter().filter(|r| r.ok && !r.warmup) {
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
            let Some(test) = stats::paired_log_ratio(&xa, &xb, analysis::LEVEL) else {
                continue;
            };
            let log_ratios: Vec<f64> = xa.iter().zip(&xb).map(|(va, vb)| (vb / va).ln()).collect();
            out.push(PairedComparison {
                name: name.into(),
                a: a.into(),
                b: b.into(),
                category: category.clone(),
                metric: def.name.into(),
                better: def.better,
                n_pairs: xa.len(),
                ratio: test.ratio,
                interval: test.interval,
                t_p: test.p_value,
                wilcoxon_p: stats::wilcoxon_signed_rank(&log_ratios).map(|(_, p)| p),
            });
        }
    }
    out
}
