//! Agent sessions and context depth: what a coding agent really gets from a quant.
//!
//! - `<model>/<quant>/session`: recorded multi-turn agent sessions (`prompts/sessions/*.json`,
//!   see [`file`]) replayed turn by turn with the prefix cache on, `repeats` times. Per turn:
//!   TTFT, new vs cached prompt tokens as the server reports them, prefill and decode rates, time
//!   to the first tool-call delta, and the ideal reusable prefix (from the server's tokenizer
//!   where it has one). Per session: effective tok/s (famstack's definition), share of time in
//!   prefill, final context, cache efficiency; intervals over the repeats ([`analysis`]).
//! - `<model>/<quant>/depth`: the context filled to depth D with a cached prefix, then a short
//!   follow-up's TTFT and a fixed-length decode at that depth.
//!
//! Both are opt-in by filter, like the load benchmarks. [`run`] drives the requests through the
//! shared client; every request is an ordinary [`GenerationRecord`](crate::record::GenerationRecord)
//! tagged with a [`SessionTag`] or [`DepthTag`] and analysed only here.

pub mod analysis;
pub mod file;
pub mod run;

use serde::{Deserialize, Serialize};

/// The benchmark names that end the workloads' ids.
pub const SESSION: &str = "session";
pub const DEPTH: &str = "depth";
/// The file in the run directory holding [`analysis::SessionReport`].
pub const REPORT_FILE: &str = "sessions.json";
/// Where session files live, under the prompt directory.
pub const SESSIONS_DIR: &str = "sessions";

/// Where a turn's ideal reusable prefix came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdealSource {
    /// The common prefix of this prompt's and the previous request's token ids, both rendered
    /// and tokenized by the server itself.
    ServerTokenizer,
    /// The server has no tokenizer endpoint: the previous request's reported prompt tokens
    /// (its prompt is a prefix of this one up to the chat template's generation prompt).
    Estimated,
}

/// Which session turn a generation was.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionTag {
    pub session: String,
    pub mode: file::Mode,
    /// Repeat index, from 0.
    pub repeat: u32,
    /// Turn index, from 0.
    pub turn: u32,
    /// The server's prefix cache was allowed (off only for the cache-off side of a paired run).
    pub prefix_cache: bool,
    /// The prompt's length from the server's tokenizer, when it has one.
    #[serde(default)]
    pub prompt_tokens_tokenized: Option<u64>,
    /// Tokens this prompt shares with the previous request sent to the server.
    #[serde(default)]
    pub ideal_reusable: Option<u64>,
    #[serde(default)]
    pub ideal_source: Option<IdealSource>,
}

/// Which depth measurement a generation was.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DepthTag {
    /// The depth aimed at, tokens.
    pub depth: u32,
    pub repeat: u32,
    /// The priming request that fills the cache: recorded, not analysed.
    pub setup: bool,
}

/// Resolved session and depth settings of a group (see `config::RunSettings`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SessionSettings {
    /// Repeats of each session (R): intervals are over these.
    pub repeats: u32,
    pub mode: file::Mode,
    /// Session ids to run; empty runs every session in the group's languages.
    pub ids: Vec<String>,
    /// Each repeat also runs the session with the prefix cache off, interleaved (paired ratios).
    pub cache_off_pairs: bool,
    pub depths: Vec<u32>,
    pub depth_repeats: u32,
    /// Tokens decoded at each depth (forced where the server can; see `fixed_length`).
    pub depth_decode_tokens: u32,
}

impl SessionSettings {
    pub const DEFAULT_REPEATS: u32 = 5;
    pub const DEFAULT_DEPTHS: [u32; 4] = [0, 4096, 16384, 32768];
    pub const DEFAULT_DEPTH_REPEATS: u32 = 3;
    pub const DEFAULT_DEPTH_DECODE_TOKENS: u32 = 32;
}
