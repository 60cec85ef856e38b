//! The generation record: one streamed generation, as measured, with the provenance of every count.
//!
//! One record is one line of `generations.jsonl`. The schema is versioned by [`RECORD_SCHEMA`] and
//! documented in `docs/schema.md`; bump the version whenever a field changes meaning.

pub mod build;
pub mod counts;
pub mod metrics;
mod tags;

use serde::{Deserialize, Serialize};

pub use crate::client::types::{Output, ServerReport};
pub use tags::{CacheState, DepthTag, IdealSource, LoadKind, LoadTag, PairTag, PrefillTag, SessionTag};

/// Version of the record layout written by this build.
pub const RECORD_SCHEMA: u32 = 3;

/// Where a token count came from, best first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CountSource {
    /// The server's `usage` object.
    Usage,
    /// The server's own timings (llama-server `timings.predicted_n` / `prompt_n`).
    ServerTimings,
    /// Counted token-bearing stream events: an estimate, since an event may carry several tokens
    /// (or a token may be split over several events).
    EventsEstimate,
}

/// A condition worth a reader's attention; listed in the record and tallied in the summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// The completion count is an estimate from stream events (no usage, no server timings).
    CompletionEstimated,
    /// The reasoning count is an estimate from reasoning-bearing events.
    ReasoningEstimated,
    /// The model stopped before `max_tokens`: rates come from a shorter answer than requested.
    EarlyStop,
    /// Part of the prompt came from the server's prefix cache, so TTFT is not a full prefill.
    PrefixCacheHit,
    /// The server's own figures differ from ours beyond the stated tolerance: decode rate by more
    /// than 5 %, or its generated-token count from the count we used.
    ServerDisagrees,
    /// Fixed-length decoding was asked for (`fixed_length`), yet the count differs from
    /// `max_tokens` (the server could not force the length, or ignored it).
    LengthMismatch,
    /// The stream ended (cleanly) without a `[DONE]` marker.
    NoDoneMarker,
    /// The server produced more tokens than `max_tokens` asked for: it did not honour the limit.
    OverMaxTokens,
    /// The machine was throttled when the benchmark started (macOS CPU speed limit under 100 %,
    /// or a Linux thermal zone at its passive trip point; see `machine_state`).
    Throttled,
    /// The machine ran on battery power when the benchmark started.
    OnBattery,
    /// Written by builds before 2026-11-22 that re-sent a request once when a kept-alive
    /// connection turned out closed (timing from the re-send); no longer produced — every
    /// generation now opens its own connection. Kept so those records stay readable.
    StaleConnectionRetried,
}

/// Offsets from the moment the request was handed to the HTTP client, in nanoseconds, taken
/// from a monotonic clock as the bytes arrived. Absent when the stream never got there.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Timestamps {
    /// Opening the request's connection (TCP connect). Schema 3: opened before the request was
    /// sent, so not part of any other offset; schema 2: inside the TTFT. Absent in records
    /// written before it was measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_ns: Option<u64>,
    pub headers_ns: Option<u64>,
    pub first_token_ns: Option<u64>,
    /// The first event carrying a tool-call delta; absent when none did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_tool_call_ns: Option<u64>,
    pub last_token_ns: Option<u64>,
    pub end_ns: Option<u64>,
}

/// Token counts, each with where it came from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TokenCounts {
    pub prompt: Option<u64>,
    pub prompt_source: Option<CountSource>,
    /// Prompt tokens the server took from its prefix cache (usage `cached_tokens` or `cache_n`).
    pub prompt_cached: Option<u64>,
    /// All generated tokens, reasoning included.
    pub completion: Option<u64>,
    pub completion_source: Option<CountSource>,
    /// Generated reasoning ("thinking") tokens; part of `completion`.
    pub reasoning: Option<u64>,
    pub reasoning_source: Option<CountSource>,
    /// Stream events that carried generated text (content, reasoning or tool calls).
    pub token_events: u64,
    pub reasoning_events: u64,
    pub tool_call_events: u64,
    /// Tokens attributed to the first token-bearing event (1 when events are single tokens).
    pub first_event_tokens: Option<f64>,
    /// Counted tokens generated after the last event: the end-of-generation token, which servers
    /// count but do not stream (1 when the answer stopped and N exceeds the events, else 0).
    pub after_last_event: u64,
}

/// Quantities derived from timestamps and counts (see `metrics`); absent when not measurable.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub ttft_s: Option<f64>,
    /// (N − n₁) / (t_last − t_first), tokens per second.
    pub decode_rate: Option<f64>,
    pub e2e_s: Option<f64>,
    /// N / e2e, tokens per second, time to first token included.
    pub output_rate: Option<f64>,
    /// Prompt tokens actually processed (cached ones excluded) / TTFT, tokens per second.
    pub prefill_rate: Option<f64>,
    pub itl_p50_s: Option<f64>,
    pub itl_p90_s: Option<f64>,
    pub itl_p99_s: Option<f64>,
}

/// One generation. Warm-ups are recorded too, marked, and never enter statistics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GenerationRecord {
    pub schema: u32,
    pub run: String,
    /// `model/quant`, the criterion group.
    pub group: String,
    pub model: String,
    pub quant: String,
    pub category: String,
    pub prompt_id: String,
    /// Index among this benchmark's warm-ups or samples (each counted from 0).
    pub sample: u32,
    pub warmup: bool,
    /// Wall-clock start, RFC 3339 UTC, for humans; all durations use the monotonic offsets.
    pub started_at: String,
    /// The `max_tokens` actually sent.
    pub max_tokens: u32,
    pub ok: bool,
    /// Why the generation failed; absent when `ok`.
    pub error: Option<String>,
    pub http_status: Option<u16>,
    pub t: Timestamps,
    pub tokens: TokenCounts,
    pub metrics: Metrics,
    /// Every gap between consecutive token-bearing events, microseconds.
    pub itl_us: Vec<u64>,
    pub finish_reason: Option<String>,
    pub early_stop: bool,
    pub server: Option<ServerReport>,
    pub flags: Vec<Flag>,
    pub output: Output,
    /// The answer's score when its prompt carries a check (see `quality`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<crate::quality::Score>,
    /// Set on generations of a paired A/B comparison; those are analysed only as pairs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pair: Option<PairTag>,
    /// Set on generations of a load benchmark (concurrency, open loop); those are analysed only
    /// per load level (`load::analysis`), never as an ordinary benchmark.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<LoadTag>,
    /// Set on long-context prefill generations; analysed only in `prefill.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefill: Option<PrefillTag>,
    /// Set on agent-session turns; analysed only per session (`session::analysis`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionTag>,
    /// Set on context-depth generations; analysed only per depth (`session::analysis`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<DepthTag>,
}

impl GenerationRecord {
    /// Whether this generation belongs to an ordinary benchmark (group × category); paired A/B,
    /// load, prefill, session and depth generations are analysed only in their own way.
    pub fn is_ordinary(&self) -> bool {
        self.pair.is_none()
            && self.concurrency.is_none()
            && self.prefill.is_none()
            && self.session.is_none()
            && self.depth.is_none()
    }

    /// The record without what only the records file needs to keep: the answer's text and,
    /// outside load benchmarks (whose analysis places each token in its window), the
    /// inter-token gaps. Most of a record's size; no summary figure or verdict reads them.
    pub fn without_bulk(mut self) -> GenerationRecord {
        self.output = Output::default();
        if self.concurrency.is_none() {
            self.itl_us = Vec::new();
        }
        self
    }
}

/// The benchmarks (group, category) of `records`, in first-seen order; paired A/B and load
/// generations, which are analysed only as pairs or per load level, are left out.
pub fn benchmarks(records: &[GenerationRecord]) -> Vec<(String, String)> {
    let mut keys: Vec<(String, String)> = Vec::new();
    for r in records.iter().filter(|r| r.is_ordinary()) {
        if !keys.iter().any(|(g, c)| *g == r.group && *c == r.category) {
            keys.push((r.group.clone(), r.category.clone()));
        }
    }
    keys
}

/// The distinct run ids of `records`, in first-seen order.
pub fn run_ids<'a>(records: impl IntoIterator<Item = &'a GenerationRecord>) -> Vec<&'a str> {
    let mut ids: Vec<&str> = Vec::new();
    for r in records {
        if !ids.contains(&r.run.as_str()) {
            ids.push(&r.run);
        }
    }
    ids
}
