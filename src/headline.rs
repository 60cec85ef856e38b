//! The answer first: what a run found, in a few sentences — per category the fastest group by
//! decode rate (with its margin, and whether the intervals overlap) and the lowest time to first
//! token; the most faithful quant where a fidelity pass ran; every regression and improvement
//! against a baseline in words with absolute values. Computed here once; the console, the page
//! and `summary.md` only render it (escaping it for their sink).

use crate::compare::{Comparison, ComparisonReport, Method, Verdict};
use crate::fidelity::FidelityReport;
use crate::stats::{Interval, QuantileEstimate};
use crate::summary::Summary;

/// What a finding is about; renderers style by it (a regression in red).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Fastest,
    MostFaithful,
    Regressed,
    Improved,
    /// A caution about the figures above it.
    Note,
}

/// One sentence of the headline.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    pub kind: Kind,
    pub text: String,
}

/// The findings of a run, in reading order.
pub fn findings(
    summary: &Summary,
    comparison: Option<&ComparisonReport>,
    fidelity: Option<&FidelityReport>,
) -> Vec<Finding> {
    let mut out = fastest(summary);
    out.extend(fidelity.and_then(most_faithful));
    if let Some(doc) = comparison {
        out.extend(changes(doc));
    }
    out
}

/// Whether any verdict says regressed (the page's badge).
pub fn regressed(comparison: Option<&ComparisonReport>) -> bool {
    comparison.is_some_and(|doc| doc.comparisons.iter().any(|c| c.verdict == Verdict::Regressed))
}

/// A run's verdicts in a few words, for the history page: "2 regressed, 1 improved vs \"before\"".
pub fn tally(doc: &ComparisonReport) -> String {
    let count = |v: Verdict| doc.comparisons.iter().filter(|c| c.verdict == v).count();
    let (down, up) = (count(Verdict::Regressed), count(Verdict::Improved));
    let said = match (down, up) {
        (0, 0) => "no change beyond noise".to_owned(),
        (d, 0) => format!("{d} regressed"),
        (0, u) => format!("{u} improved"),
        (d, u) => format!("{d} regressed, {u} improved"),
    };
    format!("{said} vs {:?}", doc.baseline)
}

/// Per category: the fastest group by median decode rate, the runner-up and the margin, and the
/// group with the lowest median TTFT.
fn fastest(summary: &Summary) -> Vec<Finding> {
    let mut categories: Vec<&str> = Vec::new();
    for b in &summary.benchmarks {
        if !categories.contains(&b.category.as_str()) {
            categories.push(&b.category);
        }
    }
    let mut out = Vec::new();
    for category in categories {
        let median = |metric: &str| -> Vec<(&str, QuantileEstimate)> {
            let of = summary.benchmarks.iter().filter(|b| b.category == category);
            let mut v: Vec<(&str, QuantileEstimate)> = of
                .filter_map(|b| Some((b.group.as_str(), b.metrics.get(metric)?.median?)))
                .collect();
            v.sort_by(|a, b| b.1.point.total_cmp(&a.1.point));
            v
        };
        let decode = median("decode_rate");
        let mut parts = Vec::new();
        match decode.as_slice() {
            [] => {}
            [(group, only)] => parts.push(format!("{group} decodes {} tok/s (the only group)", value(only.point))),
            [(group, best), (second, next), ..] => {
                let apart = match (best.interval, next.interval) {
                    (Some(a), Some(b)) if a.lower > b.upper => "intervals apart",
                    (Some(_), Some(_)) => "intervals overlap: not a clear lead",
                    _ => "too few samples for intervals",
                };
                let margin = percent(best.point / next.point).replace('+', "");
                parts.push(format!(
                    "fastest decode {group} {} tok/s, {margin} ahead of {second} {} tok/s ({apart})",
                    value(best.point),
                    value(next.point)
                ));
            }
        }
        let ttft = median("ttft_s");
        if let Some((group, low)) = ttft.last().filter(|_| ttft.len() > 1) {
            parts.push(format!("lowest TTFT {group} {} ms", value(low.point * 1e3)));
        } else if let Some((_, only)) = ttft.first() {
            parts.push(format!("TTFT {} ms", value(only.point * 1e3)));
        }
        if !parts.is_empty() {
            out.push(Finding {
                kind: Kind::Fastest,
                text: format!("{category}: {} (medians)", parts.join("; ")),
            });
        }
    }
    out
}

/// The quant whose answers stay closest to its reference: the highest mean top-1 agreement,
/// the lower KL divergence breaking ties.
fn most_faithful(report: &FidelityReport) -> Option<Finding> {
    let measured = report
        .groups
        .iter()
        .filter(|g| g.group != g.reference)
        .filter_map(|g| Some((g, g.summary.as_ref()?)));
    let (g, s) = measured.max_by(|a, b| {
        a.1.top1_agreement
            .point
            .total_cmp(&b.1.top1_agreement.point)
            .then(b.1.kl.point.total_cmp(&a.1.kl.point))
    })?;
    let interval = s.top1_agreement.interval.map_or(String::new(), |i| {
        format!(" [{}, {}]", value(i.lower * 100.0), value(i.upper * 100.0))
    });
    let text = format!(
        "most faithful to {}: {}, top-1 agreement {} %{interval}, KL {:.3} nats ({} prompts)",
        g.reference,
        g.group,
        value(s.top1_agreement.point * 100.0),
        s.kl.point,
        s.prompts
    );
    Some(Finding {
        kind: Kind::MostFaithful,
        text,
    })
}

/// Each regression and improvement in words, then the caution about one baseline run.
fn changes(doc: &ComparisonReport) -> Vec<Finding> {
    let mut out: Vec<Finding> = doc
        .comparisons
        .iter()
        .filter_map(|c| match c.verdict {
            Verdict::Regressed => Some(Finding {
                kind: Kind::Regressed,
                text: change(c, "regressed"),
            }),
            Verdict::Improved => Some(Finding {
                kind: Kind::Improved,
                text: change(c, "improved"),
            }),
            _ => None,
        })
        .collect();
    if !out.is_empty() {
        out.push(Finding {
            kind: Kind::Note,
            text: "changes: geometric means, baseline → this run, with the 95 % interval of the change".into(),
        });
    }
    if out.is_empty() && !doc.comparisons.is_empty() {
        let count = |v: Verdict| doc.comparisons.iter().filter(|c| c.verdict == v).count();
        let (same, unsure) = (count(Verdict::Unchanged), count(Verdict::Inconclusive));
        let threshold = percent_plain(doc.noise_threshold);
        let text = format!(
            "against baseline {:?}: nothing regressed or improved ({same} unchanged within ±{threshold}, {unsure} inconclusive: intervals too wide to tell)",
            doc.baseline
        );
        out.push(Finding { kind: Kind::Note, text });
    }
    if doc.comparisons.iter().any(|c| c.method == Method::WithinRun) {
        out.push(Finding { kind: Kind::Note, text: "one baseline run: intervals cover the noise within runs, not drift between runs (save more runs under the baseline's name)".into() });
    }
    out
}

/// "smollm2/q4_1 short: decode 139 → 121 tok/s (−13 % [−18, −8]), regressed".
pub fn change(c: &Comparison, verdict: &str) -> String {
    let (label, ..) = metric_words(&c.metric);
    let values = values(c).map_or(String::new(), |v| format!("{v} "));
    format!(
        "{} {}: {label} {values}({} {}), {verdict}",
        c.group,
        c.category,
        percent(c.ratio),
        bracket(&c.interval)
    )
}

/// "139 → 121 tok/s": what a comparison compares, in the unit a reader expects (ms for TTFT).
pub fn values(c: &Comparison) -> Option<String> {
    let (_, unit, scale) = metric_words(&c.metric);
    Some(format!(
        "{} → {} {unit}",
        value(c.baseline_value? * scale),
        value(c.candidate_value? * scale)
    ))
}

/// A metric's words, unit and scale from its stored unit.
fn metric_words(metric: &str) -> (&str, &str, f64) {
    match metric {
        "decode_rate" => ("decode", "tok/s", 1.0),
        "output_rate" => ("output", "tok/s", 1.0),
        "prefill_rate" => ("prefill", "tok/s", 1.0),
        "ttft_s" => ("TTFT", "ms", 1e3),
        "e2e_s" => ("end-to-end", "s", 1.0),
        "itl_p50_s" => ("inter-token p50", "ms", 1e3),
        "itl_p90_s" => ("inter-token p90", "ms", 1e3),
        "itl_p99_s" => ("inter-token p99", "ms", 1e3),
        "top1_agreement" => ("top-1 agreement", "%", 100.0),
        "kl_divergence" => ("KL divergence", "nats", 1.0),
        other => (other, "", 1.0),
    }
}

/// Three significant figures or so: 139, 12.4, 0.153.
fn value(v: f64) -> String {
    match v.abs() {
        a if a >= 100.0 => format!("{v:.0}"),
        a if a >= 10.0 => format!("{v:.1}"),
        a if a >= 1.0 => format!("{v:.2}"),
        _ => format!("{v:.3}"),
    }
}

/// A ratio as a signed change: "−13 %", "+4.2 %".
fn percent(ratio: f64) -> String {
    format!("{} %", signed((ratio - 1.0) * 100.0))
}

/// A fraction as a percentage: "5 %".
fn percent_plain(fraction: f64) -> String {
    format!(
        "{} %",
        value(fraction * 100.0).trim_end_matches(".00").trim_end_matches(".0")
    )
}

/// An interval of ratios as signed percentages: "[−18, −8]".
fn bracket(i: &Interval) -> String {
    format!(
        "[{}, {}]",
        signed((i.lower - 1.0) * 100.0),
        signed((i.upper - 1.0) * 100.0)
    )
}

/// A signed number with a true minus sign, one decimal below 5.
fn signed(v: f64) -> String {
    let digits = if v.abs() >= 5.0 {
        format!("{:.0}", v.abs())
    } else {
        format!("{:.1}", v.abs())
    };
    if digits.trim_start_matches(['0', '.']).is_empty() {
        return digits;
    }
    format!("{}{digits}", if v < 0.0 { "−" } else { "+" })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::Better;

    fn row(metric: &str, ratio: f64, lower: f64, upper: f64, values: (f64, f64), verdict: Verdict) -> Comparison {
        Comparison {
            group: "smollm2/q4_1".into(),
            category: "short".into(),
            metric: metric.into(),
            better: Better::Higher,
            n_baseline: 10,
            n_candidate: 10,
            method: Method::WithinRun,
            baseline_runs: 1,
            candidate_runs: 1,
            ratio,
            interval: Interval {
                lower,
                upper,
                level: 0.95,
            },
            welch_p: 0.001,
            holm_p: 0.001,
            mann_whitney_p: None,
            cliffs_delta: None,
            verdict,
            baseline_value: Some(values.0),
            candidate_value: Some(values.1),
        }
    }

    #[test]
    fn a_change_is_said_with_absolute_values_and_its_interval() {
        let c = row(
            "decode_rate",
            121.0 / 139.0,
            0.82,
            0.92,
            (139.0, 121.0),
            Verdict::Regressed,
        );
        assert_eq!(
            change(&c, "regressed"),
            "smollm2/q4_1 short: decode 139 → 121 tok/s (−13 % [−18, −8]), regressed"
        );
        let t = row("ttft_s", 1.2, 1.1, 1.3, (0.152, 0.182), Verdict::Regressed);
        assert_eq!(
            change(&t, "regressed"),
            "smollm2/q4_1 short: TTFT 152 → 182 ms (+20 % [+10, +30]), regressed"
        );
    }

    #[test]
    fn no_change_and_one_run_are_said_once() {
        let doc = ComparisonReport {
            baseline: "before".into(),
            noise_threshold: 0.05,
            alpha: 0.05,
            comparisons: vec![row("decode_rate", 1.0, 0.98, 1.02, (100.0, 100.0), Verdict::Unchanged)],
        };
        let texts: Vec<String> = changes(&doc).into_iter().map(|f| f.text).collect();
        assert_eq!(texts.len(), 2, "{texts:?}");
        assert!(
            texts[0].contains("nothing regressed or improved (1 unchanged within ±5 %, 0 inconclusive")
                && texts[1].starts_with("one baseline run"),
            "{texts:?}"
        );
        assert!(!regressed(Some(&doc)));
    }
}
