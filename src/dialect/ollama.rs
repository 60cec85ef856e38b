//! Ollama through its native `/api/chat` (NDJSON): the only API where it reports its own
//! timings — `prompt_eval_count`/`eval_count` and durations in nanoseconds on the final object,
//! which may also carry the last piece of text (docs/api.md, docs/api/streaming.mdx) — and where
//! reasoning arrives as `message.thinking`, at times in the same line as `content`. Recent Ollama
//! (2026) runs llama-server for GGUF models, so `eval_duration` is llama-server's `predicted_ms` and
//! `prompt_eval_count` counts the whole prompt, cached tokens included (`cache_n + prompt_n`,
//! llm/llama_server.go; its MLX runner likewise counts every prompt token), while
//! `prompt_eval_duration` covers only the uncached part; the cached share is not reported. It
//! has no way to force a length (ollama#12065): with `fixed_length`, samples that stop early
//! are flagged.
//! `/api/ps` (size, size_vram, quantization) and `/api/version` go into the metadata.
//!
//! Model lifecycle ([`OllamaModels`]): `POST /api/generate` with an empty prompt loads the model
//! for `keep_alive` and answers `done_reason: "load"` once it is loaded; with `keep_alive: 0` it
//! unloads it (`done_reason: "unload"`); `GET /api/ps` lists what is loaded (server/routes.go,
//! GenerateHandler). The load answer carries no `load_duration` (only generations do), so there is
//! no server figure for the load: only the suite's own clock.

use super::lifecycle::{Loaded, ModelLifecycle};
use super::Wire;
use super::{count, number, text_at, Dialect, DialectOptions, JsonCall, NativeRequest, TokenScoring};
use crate::client::chunk::{self, Usage};
use crate::client::sse::SseItem;
use crate::client::types::{GenerationRequest, Observation, ServerReport};
use crate::environment::ServerDescription;
use crate::prompts::Message;
use anyhow::{bail, Result};
use serde_json::{json, Value};
use std::borrow::Cow;
use std::time::Duration;

pub struct Ollama {
    pub options: DialectOptions,
}

impl Dialect for Ollama {
    fn options(&self) -> &DialectOptions {
        &self.options
    }

    fn token_scoring(&self) -> Result<&dyn TokenScoring, &'static str> {
        Err("Ollama takes prompts only as text, so it cannot be teacher-forced on the reference's token ids")
    }

    fn native_request(
        &self,
        model_id: &str,
        req: &GenerationRequest<'_>,
        messages: &[Message],
    ) -> Option<NativeRequest> {
        let mut options = json!({ "num_predict": req.max_tokens, "temperature": req.sampling.temperature, "top_p": req.sampling.top_p });
        if let Some(seed) = req.sampling.seed {
            options["seed"] = seed.into();
        }
        let body = json!({ "model": model_id, "messages": messages, "stream": true, "options": options });
        Some(NativeRequest {
            path: "/api/chat".into(),
            body,
            wire: Wire::OllamaNdjson,
        })
    }

    fn model_listing(&self) -> Option<&'static str> {
        Some("/api/tags")
    }

    /// The pulled models by `name` (e.g. `qwen3:8b`).
    fn listed_ids(&self, listing: &Value) -> Vec<String> {
        let models = listing
            .get("models")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        models
            .iter()
            .filter_map(|m| m.get("name").or(m.get("model"))?.as_str().map(str::to_owned))
            .collect()
    }

    /// An untagged id also names its `:latest`.
    fn serves(&self, model_id: &str, listed: &[String]) -> bool {
        let latest = format!("{model_id}:latest");
        listed
            .iter()
            .any(|m| m == model_id || (!model_id.contains(':') && *m == latest))
    }

    fn info_paths(&self, _model_id: &str) -> Vec<String> {
        vec!["/api/ps".into(), "/api/version".into()]
    }

    fn describe(&self, model_id: &str, info: &Value) -> ServerDescription {
        let loaded = info
            .get("/api/ps")
            .and_then(|ps| running(ps, model_id).next())
            .unwrap_or(&Value::Null);
        ServerDescription {
            backend: Some("ollama".into()),
            backend_version: info
                .pointer("/~1api~1version/version")
                .and_then(Value::as_str)
                .map(str::to_owned),
            quant: text_at(loaded, "/details/quantization_level"),
            context_length: count(loaded, "context_length"),
            model_bytes: count(loaded, "size"),
            model_vram_bytes: count(loaded, "size_vram"),
            model_path: None,
        }
    }

    fn server_report(&self, obs: &Observation) -> Option<ServerReport> {
        let stats = obs.server_stats.as_ref()?;
        let ms = |key: &str| number(stats, key).map(|ns| ns / 1e6);
        let (predicted_n, predicted_ms) = (count(stats, "eval_count"), ms("eval_duration"));
        Some(ServerReport {
            source: "ollama /api/chat durations".into(),
            prompt_n: count(stats, "prompt_eval_count"),
            prompt_ms: ms("prompt_eval_duration"),
            predicted_n,
            predicted_ms,
            decode_rate: predicted_n
                .zip(predicted_ms)
                .filter(|(_, ms)| *ms > 0.0)
                .map(|(n, ms)| n as f64 / (ms / 1000.0)),
            ..ServerReport::default()
        })
    }
}

/// The entries of `GET /api/ps` for `model_id` (by `name` or `model`; an untagged id also
/// matches its `:latest`, the tag Ollama gives it).
fn running<'a>(ps: &'a Value, model_id: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    let latest = (!model_id.contains(':')).then(|| format!("{model_id}:latest"));
    let models = ps
        .get("models")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    models.iter().filter(move |m| {
        [m.get("name"), m.get("model")]
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .any(|n| n == model_id || Some(n) == latest.as_deref())
    })
}

/// How long a model loaded for a group stays loaded without requests (Ollama's `keep_alive`);
/// the suite unloads it after the group, and requests in between renew it.
const KEEP_ALIVE: &str = "30m";

/// Ollama's model lifecycle (see the module comment).
pub struct OllamaModels;

impl ModelLifecycle for OllamaModels {
    fn listing_path(&self) -> &'static str {
        "/api/ps"
    }

    fn loaded_instances(&self, model_id: &str, listing: &Value) -> Vec<String> {
        running(listing, model_id)
            .filter_map(|m| text_at(m, "/name").or_else(|| text_at(m, "/model")))
            .collect()
    }

    fn load_call(&self, model_id: &str, _context_length: Option<u32>) -> JsonCall {
        JsonCall {
            path: "/api/generate".into(),
            body: json!({ "model": model_id, "prompt": "", "keep_alive": KEEP_ALIVE, "stream": false }),
        }
    }

    fn parse_load(&self, model_id: &str, answer: &Value) -> Result<Loaded> {
        let (done, reason) = (
            answer.get("done").and_then(Value::as_bool),
            answer.get("done_reason").and_then(Value::as_str),
        );
        if done != Some(true) || reason.is_some_and(|r| r != "load") {
            bail!("expected done: true, done_reason: \"load\"; got done: {done:?}, done_reason: {reason:?}");
        }
        Ok(Loaded {
            instance: model_id.to_owned(),
            server_load_s: None,
        })
    }

    fn unload_call(&self, instance: &str) -> JsonCall {
        JsonCall {
            path: "/api/generate".into(),
            body: json!({ "model": instance, "prompt": "", "keep_alive": 0, "stream": false }),
        }
    }

    fn load_time_source(&self) -> &'static str {
        "ollama: POST /api/generate (empty prompt, keep_alive) sent → its answer (done_reason \"load\") read"
    }

    fn server_figure(&self) -> Option<&'static str> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_reads_ps_and_load_answer() {
        let ps = json!({"models": [{"name": "qwen3:8b", "model": "qwen3:8b", "size": 5}, {"name": "smollm2:latest", "model": "smollm2:latest"}]});
        let m = OllamaModels;
        assert_eq!(m.loaded_instances("qwen3:8b", &ps), ["qwen3:8b"]);
        assert_eq!(
            m.loaded_instances("smollm2", &ps),
            ["smollm2:latest"],
            "an untagged id is :latest"
        );
        assert!(m.loaded_instances("qwen3:4b", &ps).is_empty());
        assert!(m.loaded_instances("qwen3:8b", &json!({})).is_empty());
        assert_eq!(
            m.load_call("qwen3:8b", None).body,
            json!({"model": "qwen3:8b", "prompt": "", "keep_alive": "30m", "stream": false})
        );
        assert_eq!(m.unload_call("qwen3:8b").body["keep_alive"], 0);

        let answer = json!({"model": "qwen3:8b", "created_at": "2025-01-01T00:00:00Z", "response": "", "done": true, "done_reason": "load"});
        assert_eq!(
            m.parse_load("qwen3:8b", &answer).unwrap(),
            Loaded {
                instance: "qwen3:8b".into(),
                server_load_s: None
            }
        );
        for bad in [
            json!({"done": false}),
            json!({"done": true, "done_reason": "stop"}),
            json!({"error": "model not found"}),
        ] {
            assert!(m.parse_load("qwen3:8b", &bad).is_err(), "{bad}");
        }
    }
}

/// One line of Ollama's native `/api/chat` stream.
pub fn read_line(obs: &mut Observation, item: SseItem<'_>, at: Duration) -> Result<(), String> {
    let SseItem::Event { data, .. } = item else {
        return Ok(());
    };
    let line: OllamaLine = serde_json::from_slice(data)
        .map_err(|e| format!("malformed JSON in stream: {e} (line starts {:?})", chunk::preview(data)))?;
    if let Some(error) = line.error {
        return Err(format!("server error in stream: {error}"));
    }
    let mut carried_text = false;
    if let Some(message) = &line.message {
        if let Some(text) = message.content.as_deref().filter(|t| !t.is_empty()) {
            obs.push_content(text);
            carried_text = true;
        }
        if let Some(text) = message.thinking.as_deref().filter(|t| !t.is_empty()) {
            obs.push_reasoning(text);
            carried_text = true;
        }
        if message
            .tool_calls
            .is_some_and(|raw| !matches!(raw.get().trim(), "null" | "[]"))
        {
            obs.tool_call_event(at);
            carried_text = true;
        }
    }
    if carried_text {
        obs.token_event(at);
    }
    if line.done {
        // The last line: its counts are what Ollama's OpenAI API reports as usage.
        let stats: serde_json::Value =
            serde_json::from_slice(data).map_err(|e| format!("malformed JSON in stream: {e}"))?;
        obs.usage = Some(Usage {
            prompt_tokens: stats.get("prompt_eval_count").and_then(|v| v.as_u64()),
            completion_tokens: stats.get("eval_count").and_then(|v| v.as_u64()),
            ..Usage::default()
        });
        obs.finish_reason = line.done_reason.map(Cow::into_owned);
        obs.server_stats = Some(stats);
        obs.stream_done(at);
    }
    Ok(())
}

/// A line of Ollama's native chat stream (docs/api.md); the statistics of the last line are
/// read separately, once.
#[derive(serde::Deserialize)]
struct OllamaLine<'a> {
    #[serde(default, borrow)]
    message: Option<OllamaMessage<'a>>,
    #[serde(default)]
    done: bool,
    #[serde(default, borrow)]
    done_reason: Option<Cow<'a, str>>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(serde::Deserialize)]
struct OllamaMessage<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    thinking: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    tool_calls: Option<&'a serde_json::value::RawValue>,
}
