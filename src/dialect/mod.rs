//! Server dialects: what each server kind adds to a request, how its stream is read and what it
//! reports about itself. One file per server kind.
//!
//! Every server here speaks OpenAI-compatible streaming chat, read in full by `openai.rs`
//! (content, both reasoning keys, inline `<think>` blocks, tool calls, usage). A dialect adds only
//! what differs: fixed-length decoding, prefix-cache control, a native API where that is the only
//! way to the server's own stats (Ollama, LM Studio) with its stream format ([`Wire`]), how to read
//! those stats, token scoring for fidelity, and model load/unload (`lifecycle`).

pub mod lifecycle;
mod llama_server;
mod lmstudio;
mod mlx_lm;
mod ollama;
mod openai;
pub mod prometheus;
mod vllm;
mod vllm_mlx;

use crate::client::sse::SseItem;
use crate::client::types::{GenerationRequest, Observation, ServerReport};
use crate::environment::ServerDescription;
use crate::prompts::Message;
use lifecycle::ModelLifecycle;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use llama_server::LlamaServer;
pub use lmstudio::LmStudio;
pub use mlx_lm::MlxLm;
pub use ollama::Ollama;
pub use openai::OpenAi;
pub use vllm::Vllm;
pub use vllm_mlx::VllmMlx;

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

impl ServerKind {
    pub const ALL: [ServerKind; 7] = [
        ServerKind::Lmstudio,
        ServerKind::LlamaServer,
        ServerKind::MlxLm,
        ServerKind::VllmMlx,
        ServerKind::Ollama,
        ServerKind::Vllm,
        ServerKind::Openai,
    ];

    /// The name a config uses, e.g. `llama-server`.
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::Lmstudio => "lmstudio",
            ServerKind::LlamaServer => "llama-server",
            ServerKind::MlxLm => "mlx-lm",
            ServerKind::VllmMlx => "vllm-mlx",
            ServerKind::Ollama => "ollama",
            ServerKind::Vllm => "vllm",
            ServerKind::Openai => "openai",
        }
    }

    pub fn from_name(name: &str) -> Option<ServerKind> {
        ServerKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// How a response stream is framed, and which dialect file reads its items: the client knows
/// no wire format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Wire {
    /// OpenAI chat-completion chunks over SSE (`openai.rs`).
    #[default]
    OpenAiSse,
    /// Ollama's native `/api/chat`: one JSON object per line, durations on the last (`ollama.rs`).
    OllamaNdjson,
    /// LM Studio's `/api/v1/chat`: named SSE events, stats in `chat.end` (`lmstudio.rs`).
    LmStudioEvents,
}

/// Reads one framed item of a stream, which arrived `at` after sending, into the observation;
/// an error fails the generation with that reason.
pub type StreamReader = fn(&mut Observation, SseItem<'_>, Duration) -> Result<(), String>;

impl Wire {
    /// Items are lines of JSON rather than SSE events.
    pub fn is_ndjson(self) -> bool {
        self == Wire::OllamaNdjson
    }

    pub fn reader(self) -> StreamReader {
        match self {
            Wire::OpenAiSse => openai::read_chunk,
            Wire::OllamaNdjson => ollama::read_line,
            Wire::LmStudioEvents => lmstudio::read_event,
        }
    }
}

/// A request in a server's native API, sent instead of OpenAI chat completions.
#[derive(Clone, Debug, PartialEq)]
pub struct NativeRequest {
    /// Path from the server root (the base URL without `/v1`), e.g. `/api/chat`.
    pub path: String,
    pub body: Value,
    pub wire: Wire,
}

/// A non-streamed JSON request to a path from the server root.
#[derive(Clone, Debug, PartialEq)]
pub struct JsonCall {
    pub path: String,
    pub body: Value,
}

pub trait Dialect: Send + Sync {
    fn options(&self) -> &DialectOptions;

    /// Adds server-specific fields to an OpenAI chat-completion request body (which already
    /// holds `max_tokens`).
    fn extend_request(&self, _body: &mut Map<String, Value>) {}

    /// The request in the server's native API, when that is where its own stats are.
    fn native_request(
        &self,
        _model_id: &str,
        _req: &GenerationRequest<'_>,
        _messages: &[Message],
    ) -> Option<NativeRequest> {
        None
    }

    /// Whether the server itself can be told to skip its prompt cache (else a unique salt at the
    /// start of the prompt defeats it).
    fn controls_prefix_cache(&self) -> bool {
        false
    }

    /// Whether the request can force exactly `max_tokens` when `fixed_length` is asked for.
    fn forces_length(&self) -> bool {
        false
    }

    /// Path from the server root of a Prometheus endpoint scraped before and after each
    /// generation (outside the timed stream); the difference is this generation's share.
    fn metrics_path(&self) -> Option<&'static str> {
        None
    }

    /// Paths from the server root whose JSON describes the server and the loaded model; fetched
    /// once per group into the run metadata.
    fn info_paths(&self, _model_id: &str) -> Vec<String> {
        vec!["/v1/models".into()]
    }

    /// Path from the server root of the list of models the server serves, checked against the
    /// configured `model_id` before anything is measured. None for servers that answer whatever
    /// model a request names (llama-server serves its one model under any name; mlx_lm.server
    /// loads the model a request names).
    fn model_listing(&self) -> Option<&'static str> {
        Some("/v1/models")
    }

    /// The model ids in what [`Dialect::model_listing`] returned (OpenAI: `data[].id`).
    fn listed_ids(&self, listing: &Value) -> Vec<String> {
        let models = listing
            .get("data")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        models
            .iter()
            .filter_map(|m| m.get("id")?.as_str().map(str::to_owned))
            .collect()
    }

    /// Whether `model_id` names one of the `listed` models.
    fn serves(&self, model_id: &str, listed: &[String]) -> bool {
        listed.iter().any(|m| m == model_id)
    }

    /// Backend, quant, context length and model size from what [`Dialect::info_paths`] returned
    /// (`info` maps each path that answered to its JSON).
    fn describe(&self, _model_id: &str, _info: &Value) -> ServerDescription {
        ServerDescription::default()
    }

    /// The server's own account of a finished generation, if it gives one.
    fn server_report(&self, _obs: &Observation) -> Option<ServerReport> {
        None
    }

    /// Token-level access for the fidelity pass (`fidelity`), or why this server gives none.
    fn token_scoring(&self) -> Result<&dyn TokenScoring, &'static str> {
        Err("no way known to send this server a prompt as token ids and read top-k log-probabilities of each generated token")
    }
}

/// What the fidelity pass needs from a server: the exact token ids of a chat prompt, and a greedy
/// continuation of any token sequence with the top-k log-probabilities at every step, so that
/// two models can be compared on the same tokens (teacher forcing).
pub trait TokenScoring: Send + Sync {
    /// The request that renders `messages` (and the `tools` offered, if any) with the model's
    /// chat template: into prompt text, or straight into its token ids on a server that does both
    /// in one call.
    fn render_request(&self, model_id: &str, messages: &[Message], tools: Option<&Value>) -> JsonCall;
    fn parse_render(&self, response: &Value) -> anyhow::Result<Rendered>;
    /// The request that turns rendered prompt text into token ids, special tokens included
    /// (needed only after a render that gave text).
    fn tokenize_request(&self, model_id: &str, text: &str) -> JsonCall;
    /// The token ids of a `/tokenize` answer: its `tokens` array, the shape llama-server and vLLM
    /// both answer with.
    fn parse_tokens(&self, response: &Value) -> anyhow::Result<Vec<u32>> {
        tokenize_ids(response)
    }
    /// A greedy continuation of `tokens` by up to `steps` tokens, with `top_k` log-probabilities
    /// per step; `to_the_end` keeps going past end-of-generation tokens (their probability
    /// still counts in the distribution).
    fn continue_request(&self, model_id: &str, tokens: &[u32], steps: u32, top_k: u32, to_the_end: bool) -> JsonCall;
    fn parse_continuation(&self, response: &Value) -> anyhow::Result<Vec<Step>>;
}

/// What a render request gave: the prompt as text, still to be tokenized (llama-server's
/// `/apply-template`), or already as token ids (vLLM's `/tokenize` with `messages`).
#[derive(Clone, Debug, PartialEq)]
pub enum Rendered {
    Text(String),
    Tokens(Vec<u32>),
}

/// One generated token and the top-k (token id, natural-log probability) of the distribution it
/// was chosen from.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub token: u32,
    pub top: Vec<(u32, f64)>,
}

/// Request options a dialect may honour.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DialectOptions {
    /// Let the server reuse a cached prompt prefix (off by default: repeated samples of one prompt
    /// would otherwise measure a cache hit instead of a prefill).
    pub prefix_cache: bool,
    /// The server was started with its prompt cache off (the suite's mlx_lm.server runs with
    /// `--prompt-cache-size 0`): no salt is needed, so prompts stay exactly as written.
    pub server_cache_off: bool,
    /// Ask the server to generate exactly `max_tokens` (ignore end-of-generation tokens).
    pub fixed_length: bool,
    /// End-of-generation and end-of-turn token ids, for servers that can only suppress them
    /// through `logit_bias` (mlx-lm, LM Studio).
    pub eos_token_ids: Vec<u32>,
}

pub fn for_kind(kind: ServerKind, options: DialectOptions) -> Box<dyn Dialect> {
    match kind {
        ServerKind::LlamaServer => Box::new(LlamaServer { options }),
        ServerKind::Lmstudio => Box::new(LmStudio { options }),
        ServerKind::MlxLm => Box::new(MlxLm { options }),
        ServerKind::VllmMlx => Box::new(VllmMlx { options }),
        ServerKind::Ollama => Box::new(Ollama { options }),
        ServerKind::Vllm => Box::new(Vllm { options }),
        ServerKind::Openai => Box::new(OpenAi { options }),
    }
}

/// How the server loads and unloads models over HTTP, for the kinds that can
/// (`model_lifecycle = "manage"`). llama-server and mlx_lm.server load one model when started
/// (the suite starts and stops its reference servers itself); vLLM and vllm-mlx likewise; a
/// generic OpenAI endpoint has no such API.
pub fn lifecycle(kind: ServerKind) -> Option<&'static dyn ModelLifecycle> {
    match kind {
        ServerKind::Lmstudio => Some(&lmstudio::LmStudioModels),
        ServerKind::Ollama => Some(&ollama::OllamaModels),
        ServerKind::LlamaServer | ServerKind::MlxLm | ServerKind::VllmMlx | ServerKind::Vllm | ServerKind::Openai => {
            None
        }
    }
}

/// The messages to send: as given, or with a unique salt at the start of the first message when
/// the server's prefix cache must be defeated and it cannot be told to skip it. The salt has the
/// same length every time, so every sample of a prompt sends the same number of characters.
pub fn messages_to_send<'a>(dialect: &dyn Dialect, messages: &'a [Message]) -> Cow<'a, [Message]> {
    let options = dialect.options();
    if options.prefix_cache || options.server_cache_off || dialect.controls_prefix_cache() || messages.is_empty() {
        return Cow::Borrowed(messages);
    }
    let mut salted = messages.to_vec();
    salted[0].content = format!("{}{}", salt(), salted[0].content);
    Cow::Owned(salted)
}

/// `[qb-<process nonce><counter>] `: unique within the process, and across processes in practice.
fn salt() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static NONCE: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let nonce = NONCE.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        nanos ^ std::process::id().rotate_left(16)
    });
    format!("[qb-{nonce:08x}{:08x}] ", COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// `logit_bias` pushing every configured end token to −100 (OpenAI's floor), when fixed-length
/// decoding is asked for and ids are known.
fn suppress_end_tokens(options: &DialectOptions, body: &mut Map<String, Value>) {
    if options.fixed_length && !options.eos_token_ids.is_empty() {
        let bias: Map<String, Value> = options
            .eos_token_ids
            .iter()
            .map(|id| (id.to_string(), Value::from(-100)))
            .collect();
        body.insert("logit_bias".into(), bias.into());
    }
}

/// A number field of a JSON object, as f64.
fn number(v: &Value, key: &str) -> Option<f64> {
    v.get(key)?.as_f64()
}

/// A string at a JSON pointer.
fn text_at(v: &Value, pointer: &str) -> Option<String> {
    v.pointer(pointer)?.as_str().map(str::to_owned)
}

/// The `tokens` array of a `/tokenize` answer (see [`TokenScoring::parse_tokens`]).
fn tokenize_ids(response: &Value) -> anyhow::Result<Vec<u32>> {
    use anyhow::Context;
    let tokens = response
        .get("tokens")
        .and_then(Value::as_array)
        .context("no `tokens` array in the /tokenize response")?;
    tokens
        .iter()
        .map(|t| {
            t.as_u64()
                .and_then(|id| u32::try_from(id).ok())
                .context("a token in the /tokenize response is not a token id")
        })
        .collect()
}

/// A count field of a JSON object.
fn count(v: &Value, key: &str) -> Option<u64> {
    v.get(key)?.as_u64()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(text: &str) -> Vec<Message> {
        vec![Message::text("user", text)]
    }

    #[test]
    fn salts_are_unique_equally_long_and_only_where_needed() {
        let plain = for_kind(ServerKind::VllmMlx, DialectOptions::default());
        let (a, b) = (
            messages_to_send(plain.as_ref(), &user("hi")).into_owned(),
            messages_to_send(plain.as_ref(), &user("hi")).into_owned(),
        );
        assert!(a[0].content.ends_with("] hi") && a[0].content.starts_with("[qb-"));
        assert_ne!(a[0].content, b[0].content);
        assert_eq!(a[0].content.len(), b[0].content.len());
        let llama = for_kind(ServerKind::LlamaServer, DialectOptions::default());
        assert_eq!(
            messages_to_send(llama.as_ref(), &user("hi"))[0].content,
            "hi",
            "cache_prompt: false does it"
        );
        let vllm = for_kind(ServerKind::Vllm, DialectOptions::default());
        assert_eq!(
            messages_to_send(vllm.as_ref(), &user("hi"))[0].content,
            "hi",
            "a unique cache_salt does it"
        );
        let cached = for_kind(
            ServerKind::VllmMlx,
            DialectOptions {
                prefix_cache: true,
                ..Default::default()
            },
        );
        assert_eq!(messages_to_send(cached.as_ref(), &user("hi"))[0].content, "hi");
        let cache_off = for_kind(
            ServerKind::MlxLm,
            DialectOptions {
                server_cache_off: true,
                ..Default::default()
            },
        );
        assert_eq!(
            messages_to_send(cache_off.as_ref(), &user("hi"))[0].content,
            "hi",
            "a server started without a cache needs no salt"
        );
    }

    #[test]
    fn kind_names_round_trip() {
        for kind in ServerKind::ALL {
            assert_eq!(ServerKind::from_name(kind.name()), Some(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.name());
        }
    }
}
