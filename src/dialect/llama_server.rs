//! llama.cpp's `llama-server`: prefix-cache control and its per-request `timings`.

use super::{Dialect, DialectOptions};
use crate::client::Observation;
use crate::record::ServerReport;
use serde_json::{Map, Value};

pub struct LlamaServer {
    pub options: DialectOptions,
}

impl Dialect for LlamaServer {
    fn extend_request(&self, body: &mut Map<String, Value>) {
        body.insert("cache_prompt".into(), self.options.prefix_cache.into());
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
