//! vllm-mlx: reasoning in `delta.reasoning_content` (its code; its docs say `reasoning` — `client`
//! reads both), no `ignore_eos`/`min_tokens`/`seed`, and per-generation figures from `/metrics`
//! (with `--enable-metrics`) scraped before and after: token counters, and the TTFT and
//! request-duration histogram sums, whose difference is the decode time.

use super::prometheus::delta;
use super::{Dialect, DialectOptions, TokenScoring};
use crate::client::types::Observation;
use crate::client::types::ServerReport;

pub struct VllmMlx {
    pub options: DialectOptions,
}

impl Dialect for VllmMlx {
    fn options(&self) -> &DialectOptions {
        &self.options
    }

    fn token_scoring(&self) -> Result<&dyn TokenScoring, &'static str> {
        Err("vllm-mlx has no logprobs field in its request model")
    }

    fn metrics_path(&self) -> Option<&'static str> {
        Some("/metrics")
    }

    fn server_report(&self, obs: &Observation) -> Option<ServerReport> {
        let (before, after) = (obs.metrics_before.as_deref()?, obs.metrics_after.as_deref()?);
        let d = |name: &str| delta(before, after, name);
        let ttft_s = d("vllm_mlx_inference_ttft_seconds_sum");
        let duration_s = d("vllm_mlx_inference_request_duration_seconds_sum");
        let report = ServerReport {
            source: "vllm-mlx /metrics difference".into(),
            prompt_n: d("vllm_mlx_prompt_tokens_total").map(|v| v as u64),
            prompt_ms: ttft_s.map(|s| s * 1000.0),
            predicted_n: d("vllm_mlx_completion_tokens_total").map(|v| v as u64),
            predicted_ms: ttft_s
                .zip(duration_s)
                .map(|(ttft, total)| (total - ttft) * 1000.0)
                .filter(|ms| *ms > 0.0),
            ..ServerReport::default()
        };
        (report.predicted_n.is_some() || report.prompt_n.is_some()).then_some(report)
    }
}
