//! Server dialects: what each server kind adds to a request and what it reports about itself.
//!
//! Every server here speaks OpenAI-compatible streaming chat, which `client` parses in full
//! (content, both reasoning keys, tool calls, usage). A dialect adds only what differs. One file
//! per server kind with extras; kinds without any yet use [`openai::OpenAi`].

mod llama_server;
mod openai;

use crate::client::Observation;
use crate::record::ServerReport;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use llama_server::LlamaServer;
pub use openai::OpenAi;

/// The server kinds a config may name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServerKind {
    Lmstudio,
    LlamaServer,
    MlxLm,
    VllmMlx,
    Ollama,
    Vllm,
    Openai,
}

pub trait Dialect: Send + Sync {
    /// Adds server-specific fields to a chat-completion request body.
    fn extend_request(&self, _body: &mut Map<String, Value>) {}

    /// The server's own account of a finished generation, if it gives one.
    fn server_report(&self, _obs: &Observation) -> Option<ServerReport> {
        None
    }
}

/// Request options a dialect may honour.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DialectOptions {
    /// Let the server reuse a cached prompt prefix (off by default: repeated samples of one prompt
    /// would otherwise measure a cache hit instead of a prefill).
    pub prefix_cache: bool,
}

pub fn for_kind(kind: ServerKind, options: DialectOptions) -> Box<dyn Dialect> {
    match kind {
        ServerKind::LlamaServer => Box::new(LlamaServer { options }),
        _ => Box::new(OpenAi),
    }
}
