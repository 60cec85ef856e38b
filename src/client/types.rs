//! What a generation request is and what the client observes of it: the types the client, every
//! dialect and the record builder share. Nothing here knows a server's wire format.

use super::chunk::{LlamaTimings, Usage};
use super::think::InlineThink;
use crate::prompts::Message;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::time::Instant;

/// Sampling parameters sent with every request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sampling {
    pub temperature: f64,
    pub top_p: f64,
    pub seed: Option<u64>,
}

impl Default for Sampling {
    /// The seeds' settings: temperature 0.7, top_p 0.9, seed 42.
    fn default() -> Self {
        Sampling {
            temperature: 0.7,
            top_p: 0.9,
            seed: Some(42),
        }
    }
}

/// Bounds that turn a misbehaving server into a failed sample instead of a hung run.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// No bytes at all (headers or body) for this long fails the request.
    pub idle: Duration,
    /// The whole request, from sending to end of stream.
    pub total: Duration,
    /// Longest SSE line accepted.
    pub max_line_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            idle: Duration::from_secs(300),
            total: Duration::from_secs(3600),
            max_line_bytes: 4 << 20,
        }
    }
}

/// One generation to run.
pub struct GenerationRequest<'a> {
    pub messages: &'a [Message],
    pub max_tokens: u32,
    pub sampling: &'a Sampling,
    /// OpenAI function-tool schemas offered to the model (agent sessions); sent when present.
    pub tools: Option<&'a serde_json::Value>,
}

/// Everything observed about one request, times relative to sending it.
#[derive(Debug, Default)]
pub struct Observation {
    /// When the request's first byte was handed to its already-open connection; every offset
    /// here is from this instant.
    pub sent: Option<Instant>,
    /// Time to open the request's connection (TCP connect), before `sent`: not part of TTFT.
    pub connect: Option<Duration>,
    pub http_status: Option<u16>,
    pub headers: Option<Duration>,
    /// Arrival time of every event that carried generated text.
    pub token_times: Vec<Duration>,
    /// Arrival time of the first event that carried a tool-call delta.
    pub first_tool_call: Option<Duration>,
    /// `[DONE]` or the end of the body, whichever came first.
    pub end: Option<Duration>,
    pub events: EventCounts,
    pub output: Output,
    pub usage: Option<Usage>,
    pub timings: Option<LlamaTimings>,
    pub finish_reason: Option<String>,
    pub saw_done: bool,
    pub error: Option<String>,
    /// The final statistics object of a native API (Ollama's last line, LM Studio's
    /// `chat.end` stats), read by the dialect.
    pub server_stats: Option<serde_json::Value>,
    /// Prometheus text scraped just before the request and just after the stream, for dialects
    /// that name a metrics endpoint.
    pub metrics_before: Option<String>,
    pub metrics_after: Option<String>,
    /// Inline `<think>` tracking; applied when the stream is finished.
    pub think: InlineThink,
    /// Consecutive token-bearing events, up to the last, that carried the server's running count.
    pub counted_events: u32,
}

/// What the stream itself showed, counted without a tokenizer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventCounts {
    pub token_events: u64,
    pub reasoning_events: u64,
    pub tool_call_events: u64,
    /// The server's running completion count on the last token-bearing event, when it sends one
    /// on every event (vLLM `continuous_usage_stats`, llama-server per-token timings): the tokens
    /// actually streamed.
    pub streamed_tokens: Option<u64>,
}

/// The text the model produced, kept apart by channel.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Output {
    pub content: String,
    pub reasoning: String,
}

/// What the server itself reported about this generation, and how it compares with our figures.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerReport {
    /// Where the figures came from, e.g. `llama-server timings`.
    pub source: String,
    pub prompt_n: Option<u64>,
    pub prompt_ms: Option<f64>,
    pub predicted_n: Option<u64>,
    pub predicted_ms: Option<f64>,
    pub cache_n: Option<u64>,
    /// Speculative decoding: tokens the draft model proposed, and how many of them the target
    /// accepted (llama-server `timings.draft_n` / `draft_n_accepted`); absent without a draft.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft_n: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft_accepted: Option<u64>,
    /// The decode rate the server reports to its users, tokens per second.
    pub decode_rate: Option<f64>,
    /// The decode rate its own timings give, counted like ours: (predicted_n − 1) / predicted_ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timings_decode_rate: Option<f64>,
    /// (ours − server's) / server's decode rate: its timings' rate when it gives timings, else
    /// its reported rate.
    pub decode_rate_rel_diff: Option<f64>,
    /// (reported − its timings' rate) / its timings' rate, against whichever of (n − 1) / ms and
    /// n / ms is nearer (builds differ in which they report).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported_vs_timings_rel_diff: Option<f64>,
    /// (reported − ours) / ours, ours taken over N or N − 1 tokens, whichever is nearer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported_vs_ours_rel_diff: Option<f64>,
    /// Our TTFT minus the server's prompt time: HTTP, queueing and streaming overhead.
    pub ttft_minus_prompt_ms: Option<f64>,
    /// Our completion count minus the server's `predicted_n`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_diff: Option<i64>,
}

impl Observation {
    /// A request that could not be sent at all (e.g. its URL is unusable).
    pub fn unsent(reason: String) -> Self {
        Observation::default().failed(reason)
    }

    /// This observation, failed for `reason`.
    pub fn failed(mut self, reason: String) -> Self {
        self.error = Some(reason);
        self
    }

    /// Appends generated answer text (one event's worth), watching for inline `</think>`.
    pub fn push_content(&mut self, text: &str) {
        let start = self.output.content.len();
        self.output.content.push_str(text);
        self.think.on_content(&self.output.content, start);
    }

    /// Appends generated reasoning text sent on its own channel.
    pub fn push_reasoning(&mut self, text: &str) {
        self.output.reasoning.push_str(text);
        self.events.reasoning_events += 1;
    }

    /// An event that carried a tool-call delta arrived `at` after sending.
    pub fn tool_call_event(&mut self, at: Duration) {
        self.events.tool_call_events += 1;
        self.first_tool_call.get_or_insert(at);
    }

    /// An event that carried generated text arrived `at` after sending.
    pub fn token_event(&mut self, at: Duration) {
        self.events.token_events += 1;
        self.token_times.push(at);
    }

    /// The stream's end marker arrived `at` after sending.
    pub fn stream_done(&mut self, at: Duration) {
        self.saw_done = true;
        self.end = Some(at);
    }
}
