//! Ollama through its native `/api/chat` (NDJSON): the only API where it reports its own
//! timings — `prompt_eval_count`/`eval_count` and durations in nanoseconds on the final object
//! (docs/api.md) — and where reasoning arrives as `message.thinking`. It has no way to force a
//! length (ollama#12065): with `fixed_length`, samples that stop early are flagged.
//! `/api/ps` (size, size_vram, quantization) and `/api/version` go into the metadata.

use super::{count, number, text_at, Dialect, DialectOptions, NativeRequest};
use crate::environment::ServerDescription;
use crate::client::{GenerationRequest, Observation, Wire};
use crate::prompts::Message;
use crate::record::ServerReport;
use serde_json::{json, Value};

pub struct Ollama {
    pub options: DialectOptions,
}

impl Dialect for Ollama {
    fn options(&self) -> &DialectOptions {
        &self.options
    }

    fn native_request(&self, model_id: &str, req: &GenerationRequest<'_>, messages: &[Message]) -> Option<NativeRequest> {
        let mut options = json!({ "num_predict": req.max_tokens, "temperature": req.sampling.temperature, "top_p": req.sampling.top_p });
        if let Some(seed) = req.sampling.seed {
            options["seed"] = seed.into();
        }
        let body = json!({ "model": model_id, "messages": messages, "stream": true, "options": options });
        Some(NativeRequest { path: "/api/chat".into(), body, wire: Wire::OllamaNdjson })
    }

    fn info_paths(&self, _model_id: &str) -> Vec<String> {
        vec!["/api/ps".into(), "/api/version".into()]
    }

    fn describe(&self, model_id: &str, info: &Value) -> ServerDescription {
        let loaded = info.pointer("/~1api~1ps/models").and_then(Value::as_array).and_then(|models| {
            models.iter().find(|m| [m.get("name"), m.get("model")].into_iter().flatten().any(|n| n.as_str() == Some(model_id)))
        });
        let loaded = loaded.unwrap_or(&Value::Null);
        ServerDescription {
            backend: Some("ollama".into()),
            backend_version: info.pointer("/~1api~1version/version").and_then(Value::as_str).map(str::to_owned),
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
            decode_rate: predicted_n.zip(predicted_ms).filter(|(_, ms)| *ms > 0.0).map(|(n, ms)| n as f64 / (ms / 1000.0)),
            ..ServerReport::default()
        })
    }
}
