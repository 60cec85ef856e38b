//! The tags that mark a record as part of a paired comparison, a load benchmark, a prefill
//! measurement, an agent session or a context depth: data, kept with the record so that no lower
//! stage needs the stage that writes it.

use crate::prompts::session::Mode;
use serde::{Deserialize, Serialize};

/// Which paired comparison, pair and side a generation belongs to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairTag {
    pub name: String,
    pub index: u32,
    /// `a` or `b`.
    pub side: String,
}

/// The load benchmarks of a group, by the name that ends their benchmark id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadKind {
    Concurrency,
    OpenLoop,
    /// Long-context prefill (the `prefill` module): single requests, run with the load benchmarks
    /// because it too is opt-in and uses the same server set-up.
    Prefill,
}

impl LoadKind {
    pub const ALL: [LoadKind; 3] = [LoadKind::Concurrency, LoadKind::OpenLoop, LoadKind::Prefill];

    pub fn name(self) -> &'static str {
        match self {
            LoadKind::Concurrency => "concurrency",
            LoadKind::OpenLoop => "open_loop",
            LoadKind::Prefill => "prefill",
        }
    }
}

/// Which load level, stream and request a generation was, and when it was sent. Offsets are
/// from the level's start, on the same monotonic clock as the record's own timestamps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadTag {
    pub benchmark: LoadKind,
    /// Closed loop: the number of concurrent streams.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<u32>,
    /// Open loop: the arrival rate, requests per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_per_s: Option<f64>,
    /// Closed loop: the stream (0..level); open loop: equal to `request`.
    pub stream: u32,
    /// Index of the request within the level, in schedule order.
    pub request: u32,
    /// The mix class (the `max_tokens` asked for).
    pub class_max_tokens: u32,
    /// When the request was due: open loop, its arrival time; closed loop, the end of the
    /// stream's previous request (0 for its first).
    pub scheduled_ns: u64,
    /// When the client actually sent it. `sent_ns − scheduled_ns` is time spent in our client.
    pub sent_ns: u64,
}

/// Cold: nothing of the prompt cached. Warm: the whole prefix cached by an earlier request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheState {
    Cold,
    Warm,
}

/// Which prefill measurement a generation was.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PrefillTag {
    /// The prompt size aimed at, tokens (0 for calibration requests).
    pub target_tokens: u32,
    /// Filler repetitions in the prompt.
    pub repetitions: u32,
    pub cache: CacheState,
    /// Calibration and cache-priming requests: recorded, not analysed.
    pub setup: bool,
}

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

/// Which session turn a generation was (`session` workload).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionTag {
    pub session: String,
    pub mode: Mode,
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

/// Which depth measurement a generation was (`depth` workload).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DepthTag {
    /// The depth aimed at, tokens.
    pub depth: u32,
    pub repeat: u32,
    /// The priming request that fills the cache: recorded, not analysed.
    pub setup: bool,
}
