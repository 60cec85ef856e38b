//! Long-context prefill: how fast does the server read prompts of about 1k, 8k, 32k tokens,
//! cold (nothing cached) and warm (the same prefix again, served from its prefix cache)?
//!
//! Prompts are sized from the server's own prompt-token counts, not a local tokenizer: one
//! calibration request with no filler and one with `CALIBRATION_REPS` repetitions give the tokens
//! per repetition. Cold prompts start with a unique salt, so no earlier prefix matches, and are
//! sent with `cache_prompt: false` where the server takes it; warm ones repeat a primed prompt
//! with the cache allowed. The cache state of every sample is checked from the server's
//! `cached_tokens` / `timings.cache_n`, never assumed. Sizes that do not fit the server's context
//! window are skipped with the reason.

use crate::analysis::LEVEL;
use crate::prompts::Message;
use crate::record::GenerationRecord;

pub use crate::record::{CacheState, PrefillTag};
use crate::stats::{self, QuantileEstimate};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Default target prompt sizes, tokens: about 1k, 8k and 32k.
pub const DEFAULT_SIZES: [u32; 3] = [1000, 8000, 32000];
/// Default measured samples per size and cache state.
pub const DEFAULT_SAMPLES: u32 = 3;
/// Tokens generated per prefill request: enough to see the first token, little decode.
pub const MAX_TOKENS: u32 = 8;
/// Filler repetitions of the second calibration request.
pub const CALIBRATION_REPS: u32 = 32;
const FILLER: &str = "The lighthouse keeper climbed the spiral stairs at dusk, counting each of the one hundred and twelve steps as his father had taught him, and wrote the weather in the log. ";

/// Requests a prefill benchmark makes: two calibrations, then per size the cold samples, one
/// priming request and the warm samples.
pub fn planned_requests(sizes: usize, samples: u32) -> u32 {
    2 + sizes as u32 * (2 * samples + 1)
}

/// A prompt of `reps` filler repetitions after `salt` (which makes its prefix unique).
pub fn messages(salt: &str, reps: u32) -> Vec<Message> {
    vec![Message::text(
        "user",
        format!(
            "[{salt}]\n{}\nSummarize the text above in one sentence.",
            FILLER.repeat(reps as usize)
        ),
    )]
}

/// Prompt tokens as a function of filler repetitions, from two server counts.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub base_tokens: u64,
    pub tokens_per_rep: f64,
}

impl Calibration {
    /// From the prompt counts with no filler and with `reps` repetitions; None if they make no sense.
    pub fn from_counts(base_tokens: u64, with_reps: u64, reps: u32) -> Option<Calibration> {
        let per_rep = with_reps.checked_sub(base_tokens)? as f64 / f64::from(reps);
        (per_rep > 0.0).then_some(Calibration {
            base_tokens,
            tokens_per_rep: per_rep,
        })
    }

    /// Repetitions for a prompt of about `target` tokens.
    pub fn reps_for(&self, target: u32) -> u32 {
        ((f64::from(target) - self.base_tokens as f64).max(0.0) / self.tokens_per_rep).round() as u32
    }
}

/// Why a size cannot run on a server with context `n_ctx`, if it cannot.
pub fn skip_reason(target: u32, n_ctx: Option<u64>) -> Option<String> {
    let n_ctx = n_ctx?;
    (u64::from(target) + u64::from(MAX_TOKENS) > n_ctx).then(|| {
        format!("{target} prompt tokens + {MAX_TOKENS} generated exceed the server's context window of {n_ctx} tokens")
    })
}

/// llama-server's context window per slot (`/props`); None when the server does not say.
pub async fn context_window(http: &reqwest::Client, base_url: &str) -> Option<u64> {
    let root = base_url.trim_end_matches('/').trim_end_matches("/v1");
    let props: serde_json::Value = http
        .get(format!("{root}/props"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    props
        .pointer("/default_generation_settings/n_ctx")
        .and_then(serde_json::Value::as_u64)
}

/// `prefill.json`: prefill rate against context length, per group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PrefillReport {
    pub schema: u32,
    pub run: String,
    pub rows: Vec<PrefillRow>,
    pub skipped: Vec<Skipped>,
}

/// A prompt size that was not run, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    pub group: String,
    pub target_tokens: u32,
    pub reason: String,
}

/// One group × size × cache state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PrefillRow {
    pub group: String,
    pub target_tokens: u32,
    pub cache: CacheState,
    pub requests: usize,
    pub ok: usize,
    /// Median prompt tokens the server reported.
    pub prompt_tokens_p50: Option<f64>,
    /// Samples whose cache state the server confirmed (cold: 0 cached; warm: > 0 cached), of those
    /// that reported a cached count.
    pub cache_verified: usize,
    pub cache_reported: usize,
    pub cached_tokens_p50: Option<f64>,
    pub ttft_s: Option<QuantileEstimate>,
    /// Processed (not cached) prompt tokens / TTFT.
    pub prefill_rate: Option<QuantileEstimate>,
}

/// Version of the `prefill.json` layout.
pub const PREFILL_SCHEMA: u32 = 1;

/// The prefill rows of `records` (measured samples only) and the sizes `skipped`; None when
/// there are neither.
pub fn report(run: &str, records: &[GenerationRecord], skipped: &[Skipped]) -> Option<PrefillReport> {
    let measured: Vec<(&GenerationRecord, &PrefillTag)> = records
        .iter()
        .filter_map(|r| Some((r, r.prefill.as_ref().filter(|t| !t.setup)?)))
        .collect();
    let mut rows: Vec<PrefillRow> = Vec::new();
    for (r, t) in &measured {
        if rows
            .iter()
            .any(|row| row.group == r.group && row.target_tokens == t.target_tokens && row.cache == t.cache)
        {
            continue;
        }
        let of: Vec<&GenerationRecord> = measured
            .iter()
            .filter(|(o, ot)| o.group == r.group && ot.target_tokens == t.target_tokens && ot.cache == t.cache)
            .map(|(o, _)| *o)
            .collect();
        let ok: Vec<&GenerationRecord> = of.iter().copied().filter(|o| o.ok).collect();
        let median = |v: Vec<f64>| stats::quantile_ci(&v, 0.5, LEVEL);
        let cached: Vec<u64> = ok.iter().filter_map(|o| o.tokens.prompt_cached).collect();
        let verified = cached
            .iter()
            .filter(|&&c| (c > 0) == (t.cache == CacheState::Warm))
            .count();
        rows.push(PrefillRow {
            group: r.group.clone(),
            target_tokens: t.target_tokens,
            cache: t.cache,
            requests: of.len(),
            ok: ok.len(),
            prompt_tokens_p50: median(ok.iter().filter_map(|o| o.tokens.prompt.map(|n| n as f64)).collect())
                .map(|q| q.point),
            cache_verified: verified,
            cache_reported: cached.len(),
            cached_tokens_p50: median(cached.iter().map(|&c| c as f64).collect()).map(|q| q.point),
            ttft_s: median(ok.iter().filter_map(|o| o.metrics.ttft_s).collect()),
            prefill_rate: median(ok.iter().filter_map(|o| o.metrics.prefill_rate).collect()),
        });
    }
    (!rows.is_empty() || !skipped.is_empty()).then(|| PrefillReport {
        schema: PREFILL_SCHEMA,
        run: run.into(),
        rows,
        skipped: skipped.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_sizes_prompts_from_server_counts() {
        let c = Calibration::from_counts(40, 40 + 32 * 35, 32).unwrap();
        assert_eq!(c.tokens_per_rep, 35.0);
        assert_eq!(c.reps_for(1000), 27); // (1000 − 40) / 35 = 27.4
        assert_eq!(c.reps_for(10), 0);
        assert_eq!(
            Calibration::from_counts(40, 40, 32),
            None,
            "filler that adds no tokens is no calibration"
        );
    }

    #[test]
    fn sizes_beyond_the_context_window_are_skipped_with_the_reason() {
        assert_eq!(skip_reason(8000, Some(8192)), None);
        let reason = skip_reason(32000, Some(8192)).unwrap();
        assert!(reason.contains("32000") && reason.contains("8192"), "{reason}");
        assert_eq!(
            skip_reason(32000, None),
            None,
            "unknown window: try, and record what happens"
        );
    }
}
