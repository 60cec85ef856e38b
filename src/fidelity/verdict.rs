//! Fidelity against a baseline: "top-1 agreement of q4_k_s with q8_0 dropped after the upgrade"
//! is a regression like a slower decode. Both runs scored the same prompts, so each metric is
//! compared paired over prompts (ratio of geometric means, t-interval on per-prompt log-ratios);
//! the decision rule and Holm's correction are `compare`'s, shared with the speed metrics.

use super::{GroupFidelity, PromptFidelity};
use crate::analysis::{self, Better};
use crate::compare::{Comparison, Method, Verdict};
use crate::stats::{self, Interval};

/// A fidelity metric: its name in verdicts, which way is better, its per-prompt value.
struct FidelityMetric {
    name: &'static str,
    better: Better,
    value: fn(&PromptFidelity) -> Option<f64>,
}

const METRICS: [FidelityMetric; 2] = [
    FidelityMetric {
        name: "top1_agreement",
        better: Better::Higher,
        value: |p| p.top1_agreement,
    },
    FidelityMetric {
        name: "kl_divergence",
        better: Better::Lower,
        value: |p| p.kl_mean,
    },
];

/// Rows for every group measured in both (not a reference's noise floor), undecided: pass them to
/// `compare::decide` with the speed rows.
pub fn rows(baseline: &[GroupFidelity], candidate: &[GroupFidelity]) -> Vec<Comparison> {
    let mut rows = Vec::new();
    for cand in candidate.iter().filter(|g| g.reference != g.group) {
        let Some(base) = baseline
            .iter()
            .rev()
            .find(|b| b.group == cand.group && b.reference == cand.reference)
        else {
            continue;
        };
        for metric in &METRICS {
            if let Some(row) = row(metric, base, cand) {
                rows.push(row);
            }
        }
    }
    rows
}

fn row(metric: &FidelityMetric, base: &GroupFidelity, cand: &GroupFidelity) -> Option<Comparison> {
    // Per prompt scored in both, both values positive (a ratio needs them).
    let pairs: Vec<(f64, f64)> = cand
        .prompts
        .iter()
        .filter_map(|c| {
            let b = base.prompts.iter().find(|b| b.prompt == c.prompt)?;
            Some(((metric.value)(b)?, (metric.value)(c)?))
        })
        .filter(|(b, c)| *b > 0.0 && *c > 0.0)
        .collect();
    if pairs.len() < 2 {
        return None;
    }
    let (b, c): (Vec<f64>, Vec<f64>) = pairs.iter().copied().unzip();
    let (ratio, interval, p) = match stats::paired_log_ratio(&b, &c, analysis::LEVEL) {
        Some(t) => (t.ratio, t.interval, t.p_value),
        // Every prompt changed by the same factor — on a deterministic server, usually none at
        // all: the interval is that factor, and only a change is significant.
        None => {
            let r = c[0] / b[0];
            (
                r,
                Interval {
                    lower: r,
                    upper: r,
                    level: analysis::LEVEL,
                },
                if r == 1.0 { 1.0 } else { 0.0 },
            )
        }
    };
    Some(Comparison {
        group: cand.group.clone(),
        category: super::BENCHMARK.into(),
        metric: metric.name.into(),
        better: metric.better,
        n_baseline: pairs.len(),
        n_candidate: pairs.len(),
        method: Method::PairedPrompts,
        baseline_runs: 1,
        candidate_runs: 1,
        ratio,
        interval,
        welch_p: p,
        holm_p: p,
        mann_whitney_p: None,
        cliffs_delta: None,
        verdict: Verdict::Inconclusive,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::decide;

    fn group(name: &str, values: &[(f64, f64)]) -> GroupFidelity {
        let prompts = values
            .iter()
            .enumerate()
            .map(|(i, &(top1, kl))| PromptFidelity {
                positions: 32,
                top1_agreement: Some(top1),
                kl_mean: Some(kl),
                error: None,
                ..PromptFidelity::failed(&format!("p{i}"), "c", String::new())
            })
            .collect();
        GroupFidelity {
            group: name.into(),
            reference: "m/f16".into(),
            tokens: 32,
            top_k: 20,
            unavailable: None,
            prompts,
            summary: None,
        }
    }

    #[test]
    fn a_drop_in_agreement_and_a_rise_in_divergence_are_regressions() {
        let base = group(
            "m/q4",
            &[
                (0.95, 0.010),
                (0.90, 0.020),
                (0.97, 0.012),
                (0.92, 0.015),
                (0.94, 0.011),
                (0.91, 0.018),
            ],
        );
        let worse = group(
            "m/q4",
            &[
                (0.80, 0.030),
                (0.74, 0.050),
                (0.82, 0.029),
                (0.78, 0.041),
                (0.80, 0.027),
                (0.75, 0.049),
            ],
        );
        let rows = decide(rows(std::slice::from_ref(&base), &[worse]), 0.05);
        assert_eq!(rows.len(), 2);
        assert!(
            rows.iter().all(|r| r.verdict == Verdict::Regressed
                && r.method == Method::PairedPrompts
                && r.category == "fidelity"),
            "{rows:?}"
        );
        let same = decide(rows_of(&base, &base), 0.05);
        assert!(
            same.iter().all(|r| r.verdict == Verdict::Unchanged && r.ratio == 1.0),
            "{same:?}"
        );
    }

    fn rows_of(a: &GroupFidelity, b: &GroupFidelity) -> Vec<Comparison> {
        rows(std::slice::from_ref(a), std::slice::from_ref(b))
    }

    #[test]
    fn a_reference_noise_floor_and_unmatched_groups_are_not_compared() {
        let mut reference = group("m/f16", &[(1.0, 0.001), (1.0, 0.002)]);
        assert!(rows_of(&reference, &reference).is_empty());
        reference.group = "m/q8".into();
        assert!(rows_of(&group("m/q4", &[(0.9, 0.01), (0.8, 0.02)]), &reference).is_empty());
    }
}
