//! LM Studio. Generations go through its native `/api/v1/chat` stream, whose `chat.end` event
//! carries the server's `stats` (input/output/reasoning token counts, tokens per second, time to
//! first token; docs 1_developer/_2_rest/streaming-events.md). That API takes one user message
//! and a system prompt and has no `seed` or `logit_bias`, so a multi-turn prompt, or
//! `fixed_length` (which needs `logit_bias` on configured end-token ids), goes through
//! `/v1/chat/completions` instead, without per-generation stats. `/api/v0/models/<id>` (quant,
//! format, context) and `/api/v1/models` (size_bytes) go into the metadata.

use super::{count, number, suppress_end_tokens, text_at, Dialect, DialectOptions, NativeRequest};
use crate::environment::ServerDescription;
use crate::client::{GenerationRequest, Observation, Wire};
use crate::prompts::Message;
use crate::record::ServerReport;
use serde_json::{json, Map, Value};

pub struct LmStudio {
    pub options: DialectOptions,
}

impl Dialect for LmStudio {
    fn options(&self) -> &DialectOptions {
        &self.options
    }

    fn extend_request(&self, body: &mut Map<String, Value>) {
        suppress_end_tokens(&self.options, body);
    }

    fn native_request(&self, model_id: &str, req: &GenerationRequest<'_>, messages: &[Message]) -> Option<NativeRequest> {
        if self.options.fixed_length {
            return None;
        }
        let (system, input) = match messages {
            [user] if user.role == "user" => (None, user),
            [system, user] if system.role == "system" && user.role == "user" => (Some(system), user),
            _ => return None,
        };
        let mut body = json!({
            "model": model_id,
            "input": input.content,
            "stream": true,
            "store": false,
            "temperature": req.sampling.temperature,
            "top_p": req.sampling.top_p,
            "max_output_tokens": req.max_tokens,
        });
        if let Some(system) = system {
            body["system_prompt"] = system.content.clone().into();
        }
        Some(NativeRequest { path: "/api/v1/chat".into(), body, wire: Wire::LmStudioEvents })
    }

    fn forces_length(&self) -> bool {
        !self.options.eos_token_ids.is_empty()
    }

    fn info_paths(&self, model_id: &str) -> Vec<String> {
        vec![format!("/api/v0/models/{model_id}"), "/api/v1/models".into()]
    }

    fn describe(&self, model_id: &str, info: &Value) -> ServerDescription {
        let v0 = info.get(format!("/api/v0/models/{model_id}").as_str()).unwrap_or(&Value::Null);
        let listed = info.get("/api/v1/models").and_then(|v| v.get("models").or(v.get("data"))).and_then(Value::as_array);
        let v1 = listed.and_then(|models| models.iter().find(|m| m.get("key").and_then(Value::as_str) == Some(model_id))).unwrap_or(&Value::Null);
        ServerDescription {
            backend: text_at(v0, "/compatibility_type").or_else(|| text_at(v1, "/format")).map(|format| format!("lmstudio ({format})")),
            backend_version: None,
            quant: text_at(v0, "/quantization").or_else(|| text_at(v1, "/quantization/name")),
            context_length: v1.pointer("/loaded_instances/0/config/context_length").and_then(Value::as_u64).or_else(|| count(v0, "max_context_length")),
            model_bytes: count(v1, "size_bytes"),
            ..ServerDescription::default()
        }
    }

    fn server_report(&self, obs: &Observation) -> Option<ServerReport> {
        let stats = obs.server_stats.as_ref()?;
        Some(ServerReport {
            source: "lmstudio /api/v1/chat stats".into(),
            prompt_n: count(stats, "input_tokens"),
            prompt_ms: number(stats, "time_to_first_token_seconds").map(|s| s * 1000.0),
            predicted_n: count(stats, "total_output_tokens"),
            decode_rate: number(stats, "tokens_per_second"),
            ..ServerReport::default()
        })
    }
}
