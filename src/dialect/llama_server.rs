//! llama.cpp's `llama-server`: `cache_prompt` and `ignore_eos` in the request, its per-request
//! `timings`, and `/props` (build, model path) for the metadata.

use super::{text_at, Dialect, DialectOptions};
use crate::client::Observation;
use crate::environment::ServerDescription;
use crate::record::ServerReport;
use serde_json::{Map, Value};

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

    fn info_paths(&self, _model_id: &str) -> Vec<String> {
        vec!["/props".into(), "/v1/models".into()]
    }

    fn describe(&self, _model_id: &str, info: &Value) -> ServerDescription {
        let props = info.get("/props").unwrap_or(&Value::Null);
        ServerDescription {
            backend: Some("llama.cpp".into()),
            backend_version: text_at(props, "/build_info"),
            context_length: props.pointer("/default_generation_settings/n_ctx").and_then(Value::as_u64),
            model_path: text_at(props, "/model_path").map(Into::into),
            model_bytes: info.pointer("/~1v1~1models/data/0/meta/size").and_then(Value::as_u64),
            ..ServerDescription::default()
        }
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
            decode_rate: t.predicted_per_second,
            ..ServerReport::default()
        })
    }
}
