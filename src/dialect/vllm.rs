//! vLLM's OpenAI server: `ignore_eos` plus `min_tokens` for fixed length, reasoning in
//! `delta.reasoning` (formerly `reasoning_content`; `client` reads both), and per-generation
//! figures from `/metrics` scraped before and after (vllm/v1/metrics/loggers.py): the growth of
//! the generation/prompt token counters and of the decode/prefill time histogram sums. Valid
//! only while nothing else uses the server, which the benchmark ensures by running one request
//! at a time.

use super::prometheus::delta;
use super::{Dialect, DialectOptions};
use crate::client::Observation;
use crate::record::ServerReport;
use serde_json::{Map, Value};

pub struct Vllm {
    pub options: DialectOptions,
}

impl Dialect for Vllm {
    fn options(&self) -> &DialectOptions {
        &self.options
    }

    fn extend_request(&self, body: &mut Map<String, Value>) {
        if self.options.fixed_length {
            let max_tokens = body.get("max_tokens").cloned().unwrap_or(Value::Null);
            body.insert("ignore_eos".into(), true.into());
            body.insert("min_tokens".into(), max_tokens);
        }
    }

    fn forces_length(&self) -> bool {
        true
    }

    fn metrics_path(&self) -> Option<&'static str> {
        Some("/metrics")
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
            ..ServerReport::default()
        };
        (report.predicted_n.is_some() || report.prompt_n.is_some()).then_some(report)
    }
}
