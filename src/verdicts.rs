//! Verdicts of a candidate against a baseline: every speed metric (`compare`), every fidelity
//! figure (`fidelity::verdict`) and every agent-session figure (`session::analysis`) decided as
//! one family (Holm), regressions first. The one entry
//! point for the suite's `--baseline` and for `quantbench compare`.

use crate::compare::{self, ComparisonReport};
use crate::fidelity::GroupFidelity;
use crate::record::GenerationRecord;

/// What is compared: records and fidelity results.
pub struct Side<'a> {
    pub records: &'a [GenerationRecord],
    pub fidelity: &'a [GroupFidelity],
}

/// Decides every comparison of `candidate` against `baseline` (named `baseline_name`).
pub fn decide(baseline_name: String, baseline: Side<'_>, candidate: Side<'_>, noise: f64) -> ComparisonReport {
    let speed = compare::speed_rows(baseline.records, candidate.records);
    let fidelity = crate::fidelity::verdict::rows(baseline.fidelity, candidate.fidelity);
    let sessions = crate::session::analysis::verdict_rows(baseline.records, candidate.records);
    let comparisons = compare::decide([speed, fidelity, sessions].concat(), noise);
    ComparisonReport {
        baseline: baseline_name,
        noise_threshold: noise,
        alpha: compare::ALPHA,
        comparisons,
    }
}
