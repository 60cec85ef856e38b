//! LM Studio. Generations go through its native `/api/v1/chat` stream, whose `chat.end` event
//! carries the server's `stats` (input/output/reasoning token counts, tokens per second, time to
//! first token; lmstudio-ai/docs 1_developer/2_rest/streaming-events.md and chat.md) and, with a
//! draft model, draft-token counts under the snake_case names LM Studio's REST `stats` use
//! (api-changelog 0.3.10; the v1 pages list none, so they are read only where they appear).
//! That API takes one user message and a system prompt and has no `seed` or `logit_bias`, so a
//! multi-turn prompt, or `fixed_length` (which needs `logit_bias` on configured end-token ids),
//! goes through `/v1/chat/completions` instead, without per-generation stats.
//! `/api/v0/models/<id>` (quant, format, context) and `/api/v1/models` (size_bytes) go into the
//! metadata.
//!
//! Model lifecycle ([`LmStudioModels`]) through the v1 REST API (0.4+): `GET /api/v1/models` lists
//! each model's `loaded_instances`; `POST /api/v1/models/load` blocks until the model is loaded
//! and answers `instance_id` and `load_time_seconds`; `POST /api/v1/models/unload` takes the
//! `instance_id` (docs 1_developer/2_rest/{list,load,unload}.md). A load of a model that is
//! already loaded adds a second instance, so loaded instances are unloaded first.

use super::lifecycle::{Loaded, ModelLifecycle};
use super::Wire;
use super::{
    count, number, suppress_end_tokens, text_at, Dialect, DialectOptions, JsonCall, NativeRequest, TokenScoring,
};
use crate::client::chunk::{self, Usage};
use crate::client::sse::SseItem;
use crate::client::types::{GenerationRequest, Observation, ServerReport};
use crate::environment::ServerDescription;
use crate::prompts::Message;
use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};
use std::borrow::Cow;
use std::time::Duration;

pub struct LmStudio {
    pub options: DialectOptions,
}

impl Dialect for LmStudio {
    fn options(&self) -> &DialectOptions {
        &self.options
    }

    fn token_scoring(&self) -> Result<&dyn TokenScoring, &'static str> {
        Err("LM Studio returns no log-probabilities (lmstudio-ai/lms#60)")
    }

    fn extend_request(&self, body: &mut Map<String, Value>) {
        suppress_end_tokens(&self.options, body);
    }

    fn native_request(
        &self,
        model_id: &str,
        req: &GenerationRequest<'_>,
        messages: &[Message],
    ) -> Option<NativeRequest> {
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
        Some(NativeRequest {
            path: "/api/v1/chat".into(),
            body,
            wire: Wire::LmStudioEvents,
        })
    }

    fn forces_length(&self) -> bool {
        !self.options.eos_token_ids.is_empty()
    }

    fn model_listing(&self) -> Option<&'static str> {
        Some("/api/v1/models")
    }

    /// Every downloaded model by its `key` (what requests name), loaded or not: the suite may
    /// load it (`model_lifecycle = "manage"`).
    fn listed_ids(&self, listing: &Value) -> Vec<String> {
        listed_models(listing)
            .iter()
            .filter_map(|m| m.get("key").or(m.get("id"))?.as_str().map(str::to_owned))
            .collect()
    }

    fn info_paths(&self, model_id: &str) -> Vec<String> {
        vec![format!("/api/v0/models/{model_id}"), "/api/v1/models".into()]
    }

    fn describe(&self, model_id: &str, info: &Value) -> ServerDescription {
        let v0 = info
            .get(format!("/api/v0/models/{model_id}").as_str())
            .unwrap_or(&Value::Null);
        let v1 = info
            .get("/api/v1/models")
            .and_then(|listing| listed_models(listing).iter().find(|m| has_key(m, model_id)))
            .unwrap_or(&Value::Null);
        ServerDescription {
            backend: text_at(v0, "/compatibility_type")
                .or_else(|| text_at(v1, "/format"))
                .map(|format| format!("lmstudio ({format})")),
            backend_version: None,
            quant: text_at(v0, "/quantization").or_else(|| text_at(v1, "/quantization/name")),
            context_length: v1
                .pointer("/loaded_instances/0/config/context_length")
                .and_then(Value::as_u64)
                .or_else(|| count(v0, "max_context_length")),
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
            draft_n: verified_drafts(stats),
            draft_accepted: count(stats, "accepted_draft_tokens_count"),
            ..ServerReport::default()
        })
    }
}

/// Draft tokens the main model checked: the total less the `ignored` ones, which were never sent
/// to it (total = accepted + rejected + ignored: lmstudio-js LLMPredictionStats.ts), so the
/// acceptance rate means what llama-server's `draft_n_accepted / draft_n` does.
fn verified_drafts(stats: &Value) -> Option<u64> {
    let total = count(stats, "total_draft_tokens_count")?;
    Some(total.saturating_sub(count(stats, "ignored_draft_tokens_count").unwrap_or(0)))
}

/// The models `GET /api/v1/models` lists.
fn listed_models(listing: &Value) -> &[Value] {
    listing
        .get("models")
        .or(listing.get("data"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn has_key(model: &Value, key: &str) -> bool {
    model.get("key").and_then(Value::as_str) == Some(key)
}

/// LM Studio's model lifecycle (see the module comment).
pub struct LmStudioModels;

impl ModelLifecycle for LmStudioModels {
    fn listing_path(&self) -> &'static str {
        "/api/v1/models"
    }

    /// Instances of the model whose `key` is `model_id`, and any instance whose `id` is
    /// `model_id` (a variant such as `org/model@q4_k_m` may be listed under its base key).
    fn loaded_instances(&self, model_id: &str, listing: &Value) -> Vec<String> {
        let mut ids = Vec::new();
        for model in listed_models(listing) {
            let of_model = has_key(model, model_id);
            let instances = model
                .get("loaded_instances")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            for id in instances.iter().filter_map(|i| text_at(i, "/id")) {
                if (of_model || id == model_id) && !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        ids
    }

    fn load_call(&self, model_id: &str, context_length: Option<u32>) -> JsonCall {
        let mut body = json!({ "model": model_id });
        if let Some(n) = context_length {
            body["context_length"] = n.into();
        }
        JsonCall {
            path: "/api/v1/models/load".into(),
            body,
        }
    }

    fn parse_load(&self, _model_id: &str, answer: &Value) -> Result<Loaded> {
        if let Some(status) = answer.get("status").and_then(Value::as_str).filter(|s| *s != "loaded") {
            bail!("status {status:?}, not \"loaded\"");
        }
        // Early 0.4 builds named it `model_instance_id` (the docs' first version of load.md).
        let instance = text_at(answer, "/instance_id")
            .or_else(|| text_at(answer, "/model_instance_id"))
            .context("no instance_id")?;
        let server_load_s = number(answer, "load_time_seconds").filter(|s| s.is_finite() && *s >= 0.0);
        Ok(Loaded {
            instance,
            server_load_s,
        })
    }

    fn unload_call(&self, instance: &str) -> JsonCall {
        JsonCall {
            path: "/api/v1/models/unload".into(),
            body: json!({ "instance_id": instance }),
        }
    }

    fn load_time_source(&self) -> &'static str {
        "lmstudio: POST /api/v1/models/load sent → its answer (instance loaded) read"
    }

    fn server_figure(&self) -> Option<&'static str> {
        Some("lmstudio load_time_seconds")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_reads_listing_and_load_answer() {
        let listing = json!({"models": [
            {"type": "llm", "key": "qwen/q4", "loaded_instances": [{"id": "qwen/q4", "config": {"context_length": 4096}}, {"id": "qwen/q4:2", "config": {"context_length": 8192}}]},
            {"type": "llm", "key": "qwen/q8", "loaded_instances": []},
            {"type": "llm", "key": "org/base", "loaded_instances": [{"id": "org/base@q6_k", "config": {}}]},
        ]});
        let m = LmStudioModels;
        assert_eq!(m.loaded_instances("qwen/q4", &listing), ["qwen/q4", "qwen/q4:2"]);
        assert!(m.loaded_instances("qwen/q8", &listing).is_empty());
        assert!(m.loaded_instances("other", &listing).is_empty());
        assert_eq!(
            m.loaded_instances("org/base@q6_k", &listing),
            ["org/base@q6_k"],
            "a variant listed under its base key"
        );
        assert_eq!(
            m.load_call("qwen/q4", Some(16384)).body,
            json!({"model": "qwen/q4", "context_length": 16384})
        );
        assert_eq!(m.load_call("qwen/q4", None).body, json!({"model": "qwen/q4"}));

        let answer = json!({"type": "llm", "instance_id": "qwen/q4", "load_time_seconds": 9.099, "status": "loaded"});
        assert_eq!(
            m.parse_load("qwen/q4", &answer).unwrap(),
            Loaded {
                instance: "qwen/q4".into(),
                server_load_s: Some(9.099)
            }
        );
        let early = json!({"model_instance_id": "qwen/q4", "config": {"context_length": 16384}});
        assert_eq!(
            m.parse_load("qwen/q4", &early).unwrap(),
            Loaded {
                instance: "qwen/q4".into(),
                server_load_s: None
            },
            "no figure: none is made up"
        );
        for bad in [
            json!({"status": "loading", "instance_id": "x"}),
            json!({"load_time_seconds": 1.0}),
            json!([]),
        ] {
            assert!(m.parse_load("qwen/q4", &bad).is_err(), "{bad}");
        }
    }
}

/// One named event of LM Studio's `/api/v1/chat` stream.
pub fn read_event(obs: &mut Observation, item: SseItem<'_>, at: Duration) -> Result<(), String> {
    let SseItem::Event { name, data } = item else {
        return Ok(());
    };
    let parse = || {
        serde_json::from_slice::<LmStudioEvent>(data)
            .map_err(|e| format!("malformed JSON in stream: {e} (data starts {:?})", chunk::preview(data)))
    };
    match name {
        Some("message.delta") => {
            if let Some(text) = parse()?.content.as_deref().filter(|t| !t.is_empty()) {
                obs.push_content(text);
                obs.token_event(at);
            }
        }
        Some("reasoning.delta") => {
            if let Some(text) = parse()?.content.as_deref().filter(|t| !t.is_empty()) {
                obs.push_reasoning(text);
                obs.token_event(at);
            }
        }
        Some("tool_call.arguments") => {
            obs.tool_call_event(at);
            obs.token_event(at);
        }
        Some("error") => {
            return Err(format!(
                "server error in stream: {}",
                chunk::error_message(&String::from_utf8_lossy(data))
            ))
        }
        Some("chat.end") => {
            let end: serde_json::Value =
                serde_json::from_slice(data).map_err(|e| format!("malformed JSON in stream: {e}"))?;
            let stats = end
                .pointer("/result/stats")
                .cloned()
                .ok_or("chat.end without result.stats")?;
            let n = |key: &str| stats.get(key).and_then(|v| v.as_u64());
            obs.usage = Some(Usage {
                prompt_tokens: n("input_tokens"),
                completion_tokens: n("total_output_tokens"),
                completion_tokens_details: n("reasoning_output_tokens").map(|r| chunk::CompletionDetails {
                    reasoning_tokens: Some(r),
                }),
                prompt_tokens_details: None,
            });
            obs.server_stats = Some(stats);
            obs.stream_done(at);
        }
        _ => {} // chat.start, model_load.*, prompt_processing.*, *.start/*.end: no generated text
    }
    Ok(())
}

/// The text of an LM Studio `message.delta` / `reasoning.delta` event.
#[derive(serde::Deserialize)]
struct LmStudioEvent<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
}
