//! llama.cpp's `llama-server`: `cache_prompt` and `ignore_eos` in the request, its per-request
//! `timings`, and `/props` (build, model path) for the metadata.

use super::{Dialect, DialectOptions};
use crate::client::Observation;
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
