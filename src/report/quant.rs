//! The quant comparison: per group, speed (decode rate, TTFT), memory and quality (checked
//! answers, fidelity to the reference quant) side by side, and speed against fidelity as charts —
//! the view that answers "which quant should I run". Shared by the HTML page and `summary.md`.

use super::RunData;
use crate::fidelity::{self, GroupFidelity};
use crate::stats::{self, Interval, QuantileEstimate};

/// One group's row.
pub struct QuantRow<'a> {
    pub group: &'a str,
    /// Index of the group's colour on the page.
    pub colour: usize,
    pub model_bytes: Option<u64>,
    /// Median over every successful measured sample of the group, all categories.
    pub decode: Option<QuantileEstimate>,
    pub ttft: Option<QuantileEstimate>,
    pub peak_rss_bytes: Option<f64>,
    /// Checked answers: passed, scored, Wilson interval of the rate.
    pub checked: Option<(usize, usize, Interval)>,
    pub fidelity: Option<&'a GroupFidelity>,
    /// Decode as a percentage of the memory-bandwidth bound (see `roofline`).
    pub roofline: Option<&'a crate::roofline::GroupRoofline>,
}

/// Every group that ran benchmarks or a fidelity pass, in page order; None with fewer than two
/// groups or nothing on quality (then the other sections say it all).
pub fn rows(run: &RunData) -> Option<Vec<QuantRow<'_>>> {
    let fidelity: &[GroupFidelity] = run.fidelity.as_ref().map_or(&[], |f| f.groups.as_slice());
    let mut groups = run.groups();
    groups.extend(
        super::distinct(fidelity.iter().map(|f| f.group.as_str()))
            .into_iter()
            .filter(|g| !run.groups().contains(g)),
    );
    let rows: Vec<QuantRow> = groups
        .iter()
        .enumerate()
        .map(|(colour, &group)| {
            let samples: Vec<_> = run.samples(group, None).collect();
            let decode: Vec<f64> = samples.iter().filter_map(|r| r.metrics.decode_rate).collect();
            let ttft: Vec<f64> = samples.iter().filter_map(|r| r.metrics.ttft_s).collect();
            QuantRow {
                group,
                colour,
                model_bytes: run.model_bytes(group),
                decode: stats::quantile_ci(&decode, 0.5, crate::analysis::LEVEL),
                ttft: stats::quantile_ci(&ttft, 0.5, crate::analysis::LEVEL),
                peak_rss_bytes: run
                    .info
                    .group_run(group)
                    .and_then(|m| Some(m.memory.as_ref()?.peak_rss_bytes as f64)),
                checked: crate::summary::quality(&samples)
                    .and_then(|q| Some((q.passed as usize, q.scored as usize, q.pass_rate?.interval?))),
                fidelity: fidelity.iter().rev().find(|f| f.group == group),
                roofline: run.summary.roofline.iter().find(|r| r.group == group),
            }
        })
        .collect();
    let informative = rows.iter().any(|r| r.checked.is_some() || r.fidelity.is_some());
    (rows.len() >= 2 && informative).then_some(rows)
}

impl QuantRow<'_> {
    /// "3.1 % [2.9, 3.3] of 250 tok/s", or "–".
    pub fn roofline_text(&self) -> String {
        self.roofline.map_or("–".into(), crate::roofline::percent_text)
    }

    pub fn checked_text(&self) -> String {
        self.checked.map_or("–".into(), |(passed, scored, i)| {
            format!(
                "{passed}/{scored} ({:.0} % [{:.0}, {:.0}])",
                100.0 * passed as f64 / scored as f64,
                i.lower * 100.0,
                i.upper * 100.0
            )
        })
    }

    /// Greedy match, mean first divergence, top-1 agreement and KL ("–" without a fidelity
    /// pass), or why the pass measured nothing.
    pub fn fidelity_texts(&self) -> Result<[String; 4], String> {
        let Some(f) = self.fidelity else {
            return Ok(["–".into(), "–".into(), "–".into(), "–".into()]);
        };
        match (&f.summary, &f.unavailable) {
            (Some(s), _) => Ok([
                format!("{}/{}", s.greedy_matches, s.prompts),
                format!("{:.1} of ≤ {}", s.mean_first_divergence, f.tokens),
                fidelity::estimate_text(&s.top1_agreement, 3),
                fidelity::estimate_text(&s.kl, 4),
            ]),
            (None, reason) => Err(format!(
                "not measured: {}",
                reason
                    .clone()
                    .or_else(|| f.prompts.iter().find_map(|p| p.error.clone()))
                    .unwrap_or_else(|| "no prompt measured".into())
            )),
        }
    }

    /// "reference" for the group every other is compared with.
    pub fn is_reference(&self) -> bool {
        self.fidelity.is_some_and(|f| f.reference == f.group)
    }
}

/// The note under the table: what each column is.
pub const NOTE: &str = "Decode and TTFT: medians with distribution-free 95 % intervals over every successful measured sample of the group (all categories). \
Checked answers: pass rate with a Wilson interval. Fidelity (the `fidelity` pass): each group teacher-forced along the reference quant's greedy answers; \
greedy match = prompts whose own greedy answer equals the reference's over every compared token; first divergence = mean position of the first different token (a prompt without one counts as its length); \
top-1 agreement = share of positions where the most likely token is the reference's; KL = mean KL(reference ‖ group) in nats over the reference's top-k tokens plus the rest (a lower bound on the full KL). \
Intervals over prompts. The reference's own row is the server's noise floor. \
Roofline: the median decode rate as a percentage of memory bandwidth ÷ bytes of weights read per token (see the machine section).";
