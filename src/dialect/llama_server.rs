//! llama.cpp's `llama-server`: `cache_prompt` and `ignore_eos` in the request, its per-request
//! `timings`, and `/props` (build, model path) for the metadata.

use super::{text_at, Dialect, DialectOptions, JsonCall, Rendered, Step, TokenScoring};
use crate::client::types::Observation;
use crate::client::types::ServerReport;
use crate::environment::ServerDescription;
use crate::prompts::Message;
use anyhow::{Context, Result};
use serde_json::{json, Map, Value};

pub struct LlamaServer {
    pub options: DialectOptions,
}

impl Dialect for LlamaServer {
    fn options(&self) -> &DialectOptions {
        &self.options
    }

    fn extend_request(&self, body: &mut Map<String, Value>) {
        body.insert("cache_prompt".into(), self.options.prefix_cache.into());
        if self.options.fixed_length {
            // A −inf bias on every end-of-generation token (server-task.cpp, params_from_json_cmpl).
            body.insert("ignore_eos".into(), true.into());
        }
    }

    fn controls_prefix_cache(&self) -> bool {
        true
    }

    fn forces_length(&self) -> bool {
        true
    }

    fn model_listing(&self) -> Option<&'static str> {
        None
    }

    fn info_paths(&self, _model_id: &str) -> Vec<String> {
        vec!["/props".into(), "/v1/models".into()]
    }

    fn describe(&self, _model_id: &str, info: &Value) -> ServerDescription {
        let props = info.get("/props").unwrap_or(&Value::Null);
        ServerDescription {
            backend: Some("llama.cpp".into()),
            backend_version: text_at(props, "/build_info"),
            context_length: props
                .pointer("/default_generation_settings/n_ctx")
                .and_then(Value::as_u64),
            model_path: text_at(props, "/model_path").map(Into::into),
            model_bytes: info.pointer("/~1v1~1models/data/0/meta/size").and_then(Value::as_u64),
            ..ServerDescription::default()
        }
    }

    fn token_scoring(&self) -> Result<&dyn TokenScoring, &'static str> {
        Ok(self)
    }

    fn server_report(&self, obs: &Observation) -> Option<ServerReport> {
        let t = obs.timings.as_ref()?;
        Some(ServerReport {
            source: "llama-server timings".into(),
            prompt_n: t.prompt_n,
            prompt_ms: t.prompt_ms,
            predicted_n: t.predicted_n,
            predicted_ms: t.predicted_ms,
            cache_n: t.cache_n,
            draft_n: t.draft_n,
            draft_accepted: t.draft_n_accepted,
            decode_rate: t.predicted_per_second,
            ..ServerReport::default()
        })
    }
}

/// `/apply-template` and `/tokenize` give the prompt's ids exactly as chat completions would see
/// them; `/completion` takes ids as its prompt and, with `n_probs`, returns each generated token
/// with the top-k log-probabilities of the model's raw distribution (before sampling, so
/// `ignore_eos` does not hide the end-of-generation token's share). `cache_prompt: false`: every
/// continuation computes its whole context afresh, because a prefix reused from an earlier
/// request holds values computed in another batch, which differ in the last bits and made the
/// same pass give KL figures up to 2× apart depending on what the server had served before.
impl TokenScoring for LlamaServer {
    fn render_request(&self, _model_id: &str, messages: &[Message], tools: Option<&Value>) -> JsonCall {
        let mut body = json!({ "messages": messages });
        if let Some(tools) = tools {
            body["tools"] = tools.clone();
        }
        JsonCall {
            path: "/apply-template".into(),
            body,
        }
    }

    fn parse_render(&self, response: &Value) -> Result<Rendered> {
        let text = text_at(response, "/prompt").context("no `prompt` text in the /apply-template response")?;
        Ok(Rendered::Text(text))
    }

    fn tokenize_request(&self, _model_id: &str, text: &str) -> JsonCall {
        JsonCall {
            path: "/tokenize".into(),
            body: json!({ "content": text, "add_special": true, "parse_special": true }),
        }
    }

    fn continue_request(&self, _model_id: &str, tokens: &[u32], steps: u32, top_k: u32, to_the_end: bool) -> JsonCall {
        let body = json!({
            "prompt": tokens, "n_predict": steps, "n_probs": top_k, "temperature": 0, "return_tokens": true,
            "cache_prompt": false, "ignore_eos": to_the_end, "post_sampling_probs": false,
        });
        JsonCall {
            path: "/completion".into(),
            body,
        }
    }

    fn parse_continuation(&self, response: &Value) -> Result<Vec<Step>> {
        let steps = response
            .get("completion_probabilities")
            .and_then(Value::as_array)
            .context("no `completion_probabilities` in the /completion response (is n_probs supported?)")?;
        steps
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let token = s
                    .get("id")
                    .and_then(token_id)
                    .with_context(|| format!("step {i}: no token id"))?;
                let top = s
                    .get("top_logprobs")
                    .and_then(Value::as_array)
                    .with_context(|| format!("step {i}: no top_logprobs"))?;
                let top = top
                    .iter()
                    .map(|t| Some((t.get("id").and_then(token_id)?, t.get("logprob")?.as_f64()?)))
                    .collect::<Option<Vec<_>>>()
                    .with_context(|| format!("step {i}: a top_logprobs entry without id or logprob"))?;
                Ok(Step { token, top })
            })
            .collect()
    }
}

fn token_id(v: &Value) -> Option<u32> {
    v.as_u64().and_then(|id| u32::try_from(id).ok())
}
