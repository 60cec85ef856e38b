//! Fidelity to a reference group: how closely a quant follows the reference model (e.g. `f16` or
//! `q8_0` of the same model) token by token, beside its speed.
//!
//! Per prompt, the reference generates its greedy answer (up to `fidelity_tokens` tokens) with the
//! top-k log-probabilities of every step. Every other group is then *teacher-forced* along that
//! answer: it continues the prompt greedily, and where its choice differs from the reference's,
//! it is restarted from the reference's prefix one token further on — so each position is scored
//! on the reference's context, with as few requests as the model has disagreements. Measured per
//! prompt: greedy agreement (does the group's own greedy answer match over all positions, and
//! where does it first diverge), top-1 agreement and the mean KL divergence over positions
//! ([`divergence`]); per group, intervals over prompts. The reference is also forced along its
//! own answer: what it shows is the server's numerical noise floor.
//!
//! Nothing here is on a timed path: the fidelity pass runs after a group's speed benchmarks, on
//! the same server.

pub mod divergence;
pub mod pass;
pub mod verdict;

use crate::dialect::Step;
use crate::stats::{self, Estimate, Interval};
use anyhow::{bail, Context, Result};
use divergence::Position;
use serde::{Deserialize, Serialize};

pub const SCHEMA: u32 = 1;
/// Benchmark name of the pass, as filters match it: `model/quant/fidelity`.
pub const BENCHMARK: &str = "fidelity";

/// `fidelity.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FidelityReport {
    pub schema: u32,
    pub run: String,
    pub groups: Vec<GroupFidelity>,
}

/// One group against its reference.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupFidelity {
    pub group: String,
    /// The reference group (`model/quant`); equal to `group` for the reference itself, whose
    /// figures are its own noise floor.
    pub reference: String,
    /// Positions compared per prompt at most (`fidelity_tokens`).
    pub tokens: u32,
    /// Log-probabilities per position (`fidelity_top_k`).
    pub top_k: u32,
    /// Why nothing could be measured (the server gives no token-level access, the reference
    /// failed); absent when measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
    pub prompts: Vec<PromptFidelity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<FidelitySummary>,
}

/// One prompt: the group teacher-forced along the reference's greedy answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PromptFidelity {
    pub prompt: String,
    pub category: String,
    /// Prompt length in tokens, as the server tokenized it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<u32>,
    /// Positions compared: the reference answer's length, end-of-generation token included.
    pub positions: u32,
    /// The first position where the group's greedy token differs from the reference's; absent
    /// when they agree at every compared position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_divergence: Option<u32>,
    /// Fraction of positions where the group's most likely token is the reference's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top1_agreement: Option<f64>,
    /// Mean KL(reference ‖ group) over positions, nats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kl_mean: Option<f64>,
    /// Positions where a reference top-k token was missing from the group's top-k (see
    /// `divergence`).
    pub bounded_positions: u32,
    /// Requests this prompt took (one, plus one per disagreement).
    pub requests: u32,
    /// Why this prompt was not measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Over the measured prompts of a group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FidelitySummary {
    pub prompts: usize,
    /// Prompts whose greedy answer matched the reference at every compared position...
    pub greedy_matches: usize,
    /// ... as a rate with a Wilson 95 % interval.
    pub greedy_match_rate: f64,
    pub greedy_match_interval: Option<Interval>,
    /// Mean first divergence position; a prompt without one counts as its compared length
    /// (censored), which the report says.
    pub mean_first_divergence: f64,
    /// Mean over prompts of the per-prompt top-1 agreement, with a t-interval over prompts (cut
    /// to [0, 1]).
    pub top1_agreement: Estimate,
    /// Mean over prompts of the per-prompt mean KL (nats), with a t-interval over prompts (cut
    /// at 0).
    pub kl: Estimate,
    /// Positions compared in all.
    pub positions: u64,
}

/// Teacher forcing of one prompt: the prefix of the reference answer to continue from next, and
/// what each continuation showed. Kept apart from the network so it can be tested on its own.
pub struct Forcing<'r> {
    reference: &'r [Step],
    positions: Vec<Position>,
    first_divergence: Option<u32>,
    requests: u32,
}

impl<'r> Forcing<'r> {
    pub fn new(reference: &'r [Step]) -> Self {
        Forcing {
            reference,
            positions: Vec::new(),
            first_divergence: None,
            requests: 0,
        }
    }

    /// How many reference tokens to append to the prompt for the next request, and how many
    /// steps to ask for; None when every position is scored.
    pub fn next(&self) -> Option<(usize, u32)> {
        let at = self.positions.len();
        (at < self.reference.len()).then(|| (at, (self.reference.len() - at) as u32))
    }

    /// The steps a continuation from [`Forcing::next`]'s prefix returned. Each is scored against
    /// the reference at its position while the sampled tokens follow the reference; after the
    /// first that does not, the rest are off the reference's context and are dropped.
    pub fn absorb(&mut self, steps: &[Step]) -> Result<()> {
        let Some((at, _)) = self.next() else {
            bail!("a continuation after every position was scored")
        };
        if steps.is_empty() {
            bail!("the server returned no tokens for a continuation at position {at}");
        }
        self.requests += 1;
        for (i, step) in steps.iter().enumerate() {
            let pos = at + i;
            let Some(reference) = self.reference.get(pos) else {
                break;
            };
            let scored = divergence::compare(reference, step);
            if !scored.top1_agrees && self.first_divergence.is_none() {
                self.first_divergence = Some(pos as u32);
            }
            self.positions.push(scored);
            if step.token != reference.token {
                break;
            }
        }
        Ok(())
    }

    pub fn finish(self, prompt: &str, category: &str, prompt_tokens: usize) -> PromptFidelity {
        let n = self.positions.len();
        let mean = |f: &dyn Fn(&Position) -> f64| (n > 0).then(|| self.positions.iter().map(f).sum::<f64>() / n as f64);
        PromptFidelity {
            prompt: prompt.into(),
            category: category.into(),
            prompt_tokens: Some(prompt_tokens as u32),
            positions: n as u32,
            first_divergence: self.first_divergence,
            top1_agreement: mean(&|p| f64::from(u8::from(p.top1_agrees))),
            kl_mean: mean(&|p| p.kl),
            bounded_positions: self.positions.iter().filter(|p| p.bounded).count() as u32,
            requests: self.requests,
            error: None,
        }
    }
}

impl PromptFidelity {
    /// A prompt that could not be measured, and why.
    pub fn failed(prompt: &str, category: &str, error: String) -> Self {
        PromptFidelity {
            prompt: prompt.into(),
            category: category.into(),
            prompt_tokens: None,
            positions: 0,
            first_divergence: None,
            top1_agreement: None,
            kl_mean: None,
            bounded_positions: 0,
            requests: 0,
            error: Some(error),
        }
    }
}

/// The group's figures over its measured prompts; None without any.
pub fn summarize(prompts: &[PromptFidelity]) -> Option<FidelitySummary> {
    let measured: Vec<&PromptFidelity> = prompts
        .iter()
        .filter(|p| p.positions > 0 && p.top1_agreement.is_some() && p.kl_mean.is_some())
        .collect();
    if measured.is_empty() {
        return None;
    }
    let n = measured.len();
    let greedy_matches = measured.iter().filter(|p| p.first_divergence.is_none()).count();
    // A t-interval over prompts, cut to the values the measure can take.
    let estimate = |values: Vec<f64>, range: (f64, f64)| match stats::mean_ci(&values, crate::analysis::LEVEL) {
        Some(Estimate {
            point,
            interval: Some(i),
        }) => Estimate {
            point,
            interval: Some(Interval {
                lower: i.lower.max(range.0),
                upper: i.upper.min(range.1),
                ..i
            }),
        },
        _ => Estimate {
            point: values.iter().sum::<f64>() / values.len() as f64,
            interval: None,
        },
    };
    Some(FidelitySummary {
        prompts: n,
        greedy_matches,
        greedy_match_rate: greedy_matches as f64 / n as f64,
        greedy_match_interval: stats::wilson_interval(greedy_matches as u64, n as u64, crate::analysis::LEVEL),
        mean_first_divergence: measured
            .iter()
            .map(|p| f64::from(p.first_divergence.unwrap_or(p.positions)))
            .sum::<f64>()
            / n as f64,
        top1_agreement: estimate(measured.iter().filter_map(|p| p.top1_agreement).collect(), (0.0, 1.0)),
        kl: estimate(
            measured.iter().filter_map(|p| p.kl_mean).collect(),
            (0.0, f64::INFINITY),
        ),
        positions: measured.iter().map(|p| u64::from(p.positions)).sum(),
    })
}

/// A run directory's `fidelity.json`; None when the run has none.
pub fn read_report(run_dir: &std::path::Path) -> Result<Option<FidelityReport>> {
    let path = crate::store::RunDir::new(run_dir).fidelity();
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text)
        .map(Some)
        .with_context(|| format!("{}: not a fidelity report", path.display()))
}

/// Fidelity results kept with baseline NAME (one per group, the newest), for verdicts on them.
pub fn save_baseline(root: &std::path::Path, name: &str, groups: &[GroupFidelity]) -> Result<()> {
    if groups.is_empty() {
        return Ok(());
    }
    let mut kept = load_baseline(root, name)?;
    kept.retain(|k| !groups.iter().any(|g| g.group == k.group));
    kept.extend(groups.iter().cloned());
    crate::util::write_json_atomic(&crate::store::baseline_dir(root, name).fidelity(), &kept)
}

/// The fidelity results of baseline NAME; none if it has none.
pub fn load_baseline(root: &std::path::Path, name: &str) -> Result<Vec<GroupFidelity>> {
    let path = crate::store::baseline_dir(root, name).fidelity();
    if !path.is_file() {
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: not a list of fidelity results", path.display()))
}

/// "0.912 [0.880, 0.944]".
pub fn estimate_text(e: &Estimate, decimals: usize) -> String {
    match e.interval {
        Some(i) => format!("{:.d$} [{:.d$}, {:.d$}]", e.point, i.lower, i.upper, d = decimals),
        None => format!("{:.d$}", e.point, d = decimals),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(token: u32, top: &[(u32, f64)]) -> Step {
        Step {
            token,
            top: top.iter().map(|&(id, p)| (id, p.ln())).collect(),
        }
    }

    /// A simulated model that agrees with the reference except at the given positions, where it
    /// prefers token 99.
    fn simulated(reference: &[Step], disagree_at: &[usize], from: usize) -> Vec<Step> {
        (from..reference.len())
            .map(|pos| {
                if disagree_at.contains(&pos) {
                    step(99, &[(99, 0.6), (reference[pos].token, 0.4)])
                } else {
                    reference[pos].clone()
                }
            })
            .collect()
    }

    #[test]
    fn forcing_restarts_after_each_disagreement_and_scores_every_position_once() {
        let reference: Vec<Step> = (0..6).map(|t| step(t, &[(t, 0.9), (50, 0.1)])).collect();
        let mut forcing = Forcing::new(&reference);
        let mut prefixes = Vec::new();
        while let Some((at, steps)) = forcing.next() {
            assert_eq!(steps as usize, reference.len() - at);
            prefixes.push(at);
            forcing.absorb(&simulated(&reference, &[2, 4], at)).unwrap();
        }
        let result = forcing.finish("p", "c", 10);
        assert_eq!(prefixes, vec![0, 3, 5], "a restart one token past each disagreement");
        assert_eq!(
            (result.positions, result.requests, result.first_divergence),
            (6, 3, Some(2))
        );
        assert!((result.top1_agreement.unwrap() - 4.0 / 6.0).abs() < 1e-12);
        assert!(result.kl_mean.unwrap() > 0.0);
    }

    #[test]
    fn the_reference_against_itself_agrees_everywhere_in_one_request() {
        let reference: Vec<Step> = (0..5).map(|t| step(t, &[(t, 0.7), (50, 0.3)])).collect();
        let mut forcing = Forcing::new(&reference);
        forcing.absorb(&reference).unwrap();
        assert!(forcing.next().is_none());
        let r = forcing.finish("p", "c", 3);
        assert_eq!((r.requests, r.first_divergence, r.top1_agreement), (1, None, Some(1.0)));
        assert!(r.kl_mean.unwrap().abs() < 1e-12);
    }

    #[test]
    fn an_empty_continuation_is_an_error_not_a_loop() {
        let reference = vec![step(1, &[(1, 1.0)])];
        let mut forcing = Forcing::new(&reference);
        assert!(forcing.absorb(&[]).is_err());
        assert_eq!(forcing.next(), Some((0, 1)));
    }

    #[test]
    fn summaries_have_intervals_over_prompts_and_skip_failed_prompts() {
        let mut prompts: Vec<PromptFidelity> = [(1.0, 0.01, None), (0.9, 0.03, Some(5)), (0.8, 0.05, Some(2))]
            .iter()
            .map(|&(top1, kl, div)| PromptFidelity {
                top1_agreement: Some(top1),
                kl_mean: Some(kl),
                first_divergence: div,
                ..PromptFidelity::failed("p", "c", String::new())
            })
            .map(|p| PromptFidelity {
                positions: 10,
                error: None,
                ..p
            })
            .collect();
        prompts.push(PromptFidelity::failed("q", "c", "tokenized differently".into()));
        let s = summarize(&prompts).unwrap();
        assert_eq!((s.prompts, s.greedy_matches, s.positions), (3, 1, 30));
        assert!((s.top1_agreement.point - 0.9).abs() < 1e-12 && (s.kl.point - 0.03).abs() < 1e-12);
        assert!(
            (s.mean_first_divergence - (10.0 + 5.0 + 2.0) / 3.0).abs() < 1e-12,
            "no divergence counts as the compared length"
        );
        let i = s.kl.interval.unwrap();
        assert!(i.lower < 0.03 && 0.03 < i.upper);
        assert!(summarize(&prompts[3..]).is_none());
    }
}
