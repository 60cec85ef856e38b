//! `mlx_lm.server`: reasoning in `delta.reasoning` (parsed by `client`), no server-side timing
//! over HTTP, and a `completion_tokens` that counts the end-of-generation token (which `counts`
//! accounts for as generated after the last event). Fixed length only through `logit_bias` on
//! configured end-token ids: it has no `ignore_eos`.

use super::{suppress_end_tokens, Dialect, DialectOptions, TokenScoring};
use serde_json::{Map, Value};

pub struct MlxLm {
    pub options: DialectOptions,
}

impl Dialect for MlxLm {
    fn options(&self) -> &DialectOptions {
        &self.options
    }

    fn token_scoring(&self) -> Result<&dyn TokenScoring, &'static str> {
        Err("mlx_lm.server takes prompts only as text (it tokenizes them itself) and returns log-probabilities only in non-streamed answers, so it cannot be teacher-forced on another model's token ids")
    }

    fn extend_request(&self, body: &mut Map<String, Value>) {
        suppress_end_tokens(&self.options, body);
    }

    fn model_listing(&self) -> Option<&'static str> {
        None
    }

    fn forces_length(&self) -> bool {
        !self.options.eos_token_ids.is_empty()
    }
}
