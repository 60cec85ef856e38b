//! The streaming client: one chat-completion request, observed as its bytes arrive.
//!
//! Timestamps come from the monotonic clock the moment a network read returns, before any
//! parsing; every event in that read shares the timestamp. Work per event is one borrowed JSON
//! parse and appending text, with no tokenizer. The result is an [`Observation`]: what happened,
//! including how it failed; deriving counts and metrics from it is `generation`'s job.

pub mod chunk;
pub mod connection;
pub mod sse;
pub mod think;

use crate::counts::EventCounts;
use crate::dialect::{self, Dialect};
use crate::prompts::Message;
use crate::record::Output;
use chunk::{Chunk, LlamaTimings, Usage};
use connection::{Authority, Opened};
use http_body_util::BodyExt;
use serde::Serialize;
use sse::{SseDecoder, SseItem};
use std::borrow::Cow;
use std::time::Duration;
use think::InlineThink;
use tokio::time::{timeout_at, Instant};

/// Where and how to send requests.
pub struct Endpoint {
    /// Base URL up to and including `/v1`.
    pub base_url: String,
    /// The `model` field of requests.
    pub model_id: String,
    /// Sent as a bearer token; never recorded anywhere.
    pub api_key: Option<String>,
    pub dialect: Box<dyn Dialect>,
}

impl Endpoint {
    pub fn chat_url(&self) -> String {
        format!("{}/chat/completions", self.base_url.trim_end_matches('/'))
    }

    /// The base URL without `/v1`, where native APIs and `/metrics` live.
    pub fn server_root(&self) -> &str {
        let base = self.base_url.trim_end_matches('/');
        base.strip_suffix("/v1").unwrap_or(base)
    }
}

/// How a response stream is framed and what its events look like.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Wire {
    /// OpenAI chat-completion chunks over SSE.
    #[default]
    OpenAiSse,
    /// Ollama's native `/api/chat`: one JSON object per line, durations on the last.
    OllamaNdjson,
    /// LM Studio's `/api/v1/chat`: named SSE events, stats in `chat.end`.
    LmStudioEvents,
}

/// Sampling parameters sent with every request.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sampling {
    pub temperature: f64,
    pub top_p: f64,
    pub seed: Option<u64>,
}

impl Default for Sampling {
    /// The seeds' settings: temperature 0.7, top_p 0.9, seed 42.
    fn default() -> Self {
        Sampling { temperature: 0.7, top_p: 0.9, seed: Some(42) }
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
        Limits { idle: Duration::from_secs(300), total: Duration::from_secs(3600), max_line_bytes: 4 << 20 }
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

/// Builds the shared HTTP client for everything outside the timed path (server info, native
/// APIs, metrics scrapes): no proxy (endpoints are local), and a new connection for every request
/// — llama-server (build 11434) closes the connection after a streamed response while advertising
/// keep-alive, so a reused connection can fail before the server sees the request. Generations
/// use their own connections (`connection`).
pub fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder().no_proxy().connect_timeout(Duration::from_secs(10)).pool_max_idle_per_host(0).tcp_nodelay(true).build()?)
}

/// A generation ready to send, built before any clock starts: where it goes, its serialized
/// body and headers, and how its stream is framed.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub authority: Authority,
    request: hyper::Request<http_body_util::Full<bytes::Bytes>>,
    wire: Wire,
    metrics_url: Option<String>,
    max_token_events: u64,
}

impl Prepared {
    /// Builds the request of `req` to `endpoint`; an error when the endpoint's URL cannot be used.
    pub fn new(endpoint: &Endpoint, req: &GenerationRequest<'_>) -> Result<Prepared, String> {
        let (url, body, wire) = request(endpoint, req);
        let (authority, path) = connection::split_url(&url)?;
        let body = serde_json::to_vec(&body).expect("JSON values serialize");
        let mut builder = hyper::Request::post(path).header(hyper::header::HOST, &authority.0).header(hyper::header::CONTENT_TYPE, "application/json");
        if let Some(key) = &endpoint.api_key {
            builder = builder.header(hyper::header::AUTHORIZATION, format!("Bearer {key}"));
        }
        let request = builder.body(http_body_util::Full::new(bytes::Bytes::from(body))).map_err(|e| format!("building the request to {url}: {e}"))?;
        let metrics_url = endpoint.dialect.metrics_path().map(|path| format!("{}{path}", endpoint.server_root()));
        Ok(Prepared { authority, request, wire, metrics_url, max_token_events: max_token_events(req.max_tokens) })
    }
}

/// The URL, body and stream format of one generation: the dialect's native request, or OpenAI
/// chat completions with the dialect's additions.
pub fn request(endpoint: &Endpoint, req: &GenerationRequest<'_>) -> (String, serde_json::Value, Wire) {
    let messages = dialect::messages_to_send(endpoint.dialect.as_ref(), req.messages);
    match endpoint.dialect.native_request(&endpoint.model_id, req, &messages) {
        Some(native) => (format!("{}{}", endpoint.server_root(), native.path), native.body, native.wire),
        None => (endpoint.chat_url(), request_body(endpoint, req, &messages), Wire::OpenAiSse),
    }
}

fn request_body(endpoint: &Endpoint, req: &GenerationRequest<'_>, messages: &[Message]) -> serde_json::Value {
    let mut body = serde_json::json!({
        "model": endpoint.model_id,
        "messages": messages,
        "max_tokens": req.max_tokens,
        "stream": true,
        "stream_options": {"include_usage": true},
        "temperature": req.sampling.temperature,
        "top_p": req.sampling.top_p,
    });
    let map = body.as_object_mut().expect("literal object");
    if let Some(seed) = req.sampling.seed {
        map.insert("seed".into(), seed.into());
    }
    if let Some(tools) = req.tools {
        map.insert("tools".into(), tools.clone());
    }
    endpoint.dialect.extend_request(map);
    body
}

/// What the server says about itself and its model: the JSON of each of the dialect's info paths
/// that answered, keyed by path; absent when none did.
pub async fn server_info(http: &reqwest::Client, endpoint: &Endpoint) -> Option<serde_json::Value> {
    let mut info = serde_json::Map::new();
    for path in endpoint.dialect.info_paths(&endpoint.model_id) {
        let url = format!("{}{path}", endpoint.server_root());
        let builder = http.get(url).timeout(Duration::from_secs(5));
        let builder = match &endpoint.api_key {
            Some(key) => builder.bearer_auth(key),
            None => builder,
        };
        let Ok(response) = builder.send().await.and_then(reqwest::Response::error_for_status) else { continue };
        if let Ok(json) = response.json::<serde_json::Value>().await {
            info.insert(path, json);
        }
    }
    (!info.is_empty()).then_some(info.into())
}

/// Why the endpoint's model list rules out its `model_id`, naming the models it does serve; None
/// when the id is listed, or the server keeps no list, or its list is empty or unreadable
/// (nothing to go by: the generations will tell).
pub async fn model_not_served(http: &reqwest::Client, endpoint: &Endpoint) -> Option<String> {
    const SHOWN: usize = 20;
    let path = endpoint.dialect.model_listing()?;
    let listing = native_json(http, endpoint.server_root(), endpoint.api_key.as_deref(), path, None, Duration::from_secs(10)).await.ok()?;
    let served = endpoint.dialect.listed_ids(&listing);
    if served.is_empty() || endpoint.dialect.serves(&endpoint.model_id, &served) {
        return None;
    }
    let more = served.len().saturating_sub(SHOWN);
    let shown = served.iter().take(SHOWN).map(|m| format!("{m:?}")).collect::<Vec<_>>().join(", ");
    let more = if more > 0 { format!(" and {more} more") } else { String::new() };
    Some(format!("the server does not serve the model_id {:?} (GET {path}); it serves {shown}{more}", endpoint.model_id))
}

/// A request to a server's native JSON API, outside every timed path: GET without a body, POST
/// with one. The answer's JSON, or an error naming the URL with the status and the server's
/// message.
pub async fn native_json(http: &reqwest::Client, root: &str, api_key: Option<&str>, path: &str, body: Option<&serde_json::Value>, limit: Duration) -> anyhow::Result<serde_json::Value> {
    use anyhow::Context;
    let url = format!("{root}{path}");
    let builder = match body {
        Some(body) => http.post(&url).json(body),
        None => http.get(&url),
    };
    let builder = match api_key {
        Some(key) => builder.bearer_auth(key),
        None => builder,
    };
    let response = builder.timeout(limit).send().await.map_err(|e| anyhow::anyhow!("no answer from {url}: {}", error_chain(&e)))?;
    let status = response.status();
    let text = response.text().await.with_context(|| format!("reading the answer from {url}"))?;
    if !status.is_success() {
        anyhow::bail!("{url}: HTTP {}: {}", status.as_u16(), chunk::error_message(&text));
    }
    serde_json::from_str(&text).with_context(|| format!("{url}: the answer is not JSON: {}", chunk::error_message(&text)))
}

/// Runs one streamed generation: prepares it, opens its connection, then sends. Never panics
/// on what the server sends; failures are in `Observation::error` with everything measured up
/// to that point.
pub async fn generate(http: &reqwest::Client, endpoint: &Endpoint, req: &GenerationRequest<'_>, limits: &Limits) -> Observation {
    let prepared = match Prepared::new(endpoint, req) {
        Ok(p) => p,
        Err(reason) => return Observation::default().failed(reason),
    };
    let opened = connection::open(&prepared.authority).await;
    send(http, &prepared, opened, limits).await
}

/// Sends a prepared generation on a connection opened before (and timed apart from) it, with
/// the dialect's metrics scraped just before and after when it names an endpoint for them.
pub async fn send(http: &reqwest::Client, prepared: &Prepared, opened: Opened, limits: &Limits) -> Observation {
    let scrape = |url: Option<String>| async move {
        let response = http.get(url?).timeout(Duration::from_secs(5)).send().await.ok()?.error_for_status().ok()?;
        response.text().await.ok()
    };
    let metrics_before = scrape(prepared.metrics_url.clone()).await;
    let obs = generate_stream(prepared, opened, limits).await;
    let metrics_after = if metrics_before.is_some() { scrape(prepared.metrics_url.clone()).await } else { None };
    Observation { metrics_before, metrics_after, ..obs }
}

/// The timed part: stamp the send on the open connection, then read the stream as it arrives.
async fn generate_stream(prepared: &Prepared, opened: Opened, limits: &Limits) -> Observation {
    let mut obs = Observation { connect: Some(opened.took), ..Observation::default() };
    let mut connection = match opened.connection {
        Ok(c) => c,
        Err(reason) => return obs.failed(reason),
    };
    connection.place_driver();
    let request = prepared.request.clone();
    let sent = Instant::now();
    obs.sent = Some(sent);
    let deadline = sent + limits.total;
    let next_deadline = |now: Instant, deadline: Instant| (now + limits.idle).min(deadline);
    let response = connection.sender.send_request(request);
    let response = match connection.drive(timeout_at(next_deadline(sent, deadline), response)).await {
        Err(_) => return obs.failed(timeout_reason(Instant::now(), deadline, limits, "response headers")),
        Ok(Err(e)) => return obs.failed(format!("request failed: {}", error_chain(&e))),
        Ok(Ok(r)) => r,
    };
    obs.headers = Some(sent.elapsed());
    let status = response.status();
    obs.http_status = Some(status.as_u16());
    let mut body = response.into_body();
    if !status.is_success() {
        let text = connection.drive(timeout_at(next_deadline(Instant::now(), deadline), error_body(&mut body))).await.unwrap_or_default();
        let message = Some(chunk::error_message(&text)).filter(|m| !m.is_empty());
        let message = message.unwrap_or_else(|| status.canonical_reason().unwrap_or("no message").to_owned());
        return obs.failed(format!("HTTP {}: {message}", status.as_u16()));
    }

    let mut parser = StreamParser::for_wire(prepared.wire, obs, limits.max_line_bytes, prepared.max_token_events);
    loop {
        let next = connection.drive(timeout_at(next_deadline(Instant::now(), deadline), body.frame())).await;
        let now = Instant::now();
        let at = now - sent;
        match next {
            Err(_) => parser.fail(timeout_reason(now, deadline, limits, "the next bytes")),
            Ok(None) => parser.end_of_body(at),
            Ok(Some(Err(e))) => parser.fail(format!("stream broken: {}", error_chain(&e))),
            Ok(Some(Ok(frame))) => {
                if let Some(bytes) = frame.data_ref() {
                    parser.push(bytes, at);
                }
            }
        }
        if parser.is_done() {
            break;
        }
    }
    parser.finish()
}

/// Turns the bytes of an SSE chat-completion stream, with their arrival times, into an
/// [`Observation`]. Separate from the network so recorded streams can be replayed.
pub struct StreamParser {
    obs: Observation,
    decoder: SseDecoder,
    failure: Option<String>,
    body_ended: bool,
    max_token_events: u64,
    wire: Wire,
}

/// Token-bearing events a stream may carry for `max_tokens` before it is taken as a server that
/// ignores the limit (an event can carry a part of a token, hence the headroom).
pub fn max_token_events(max_tokens: u32) -> u64 {
    4 * u64::from(max_tokens) + 64
}

impl StreamParser {
    /// `obs` holds what is known before the body (status, header time).
    pub fn new(obs: Observation, max_line_bytes: usize, max_token_events: u64) -> StreamParser {
        StreamParser::for_wire(Wire::OpenAiSse, obs, max_line_bytes, max_token_events)
    }

    /// A parser for a stream in `wire`'s format.
    pub fn for_wire(wire: Wire, obs: Observation, max_line_bytes: usize, max_token_events: u64) -> StreamParser {
        let decoder = match wire {
            Wire::OllamaNdjson => SseDecoder::ndjson(max_line_bytes),
            Wire::OpenAiSse | Wire::LmStudioEvents => SseDecoder::new(max_line_bytes),
        };
        StreamParser { obs, decoder, failure: None, body_ended: false, max_token_events, wire }
    }

    /// Bytes that arrived `at` after the request was sent.
    pub fn push(&mut self, bytes: &[u8], at: Duration) {
        let (obs, failure, wire) = (&mut self.obs, &mut self.failure, self.wire);
        let pushed = self.decoder.push(bytes, &mut |item| {
            if failure.is_none() && !obs.saw_done {
                let handled = match wire {
                    Wire::OpenAiSse => obs.on_item(item, at),
                    Wire::OllamaNdjson => obs.on_ollama_line(item, at),
                    Wire::LmStudioEvents => obs.on_lmstudio_event(item, at),
                };
                if let Err(reason) = handled {
                    *failure = Some(reason);
                }
            }
        });
        if let Err(e) = pushed {
            self.fail(e.to_string());
        }
        if self.obs.events.token_events > self.max_token_events {
            self.fail(format!("the server ignored max_tokens: more than {} token events", self.max_token_events));
        }
    }

    /// The body ended (the connection closed or the chunked body finished).
    pub fn end_of_body(&mut self, at: Duration) {
        self.obs.end.get_or_insert(at);
        self.body_ended = true;
    }

    pub fn fail(&mut self, reason: String) {
        self.failure.get_or_insert(reason);
    }

    /// Nothing more needs reading: `[DONE]` arrived, the body ended, or the stream failed.
    pub fn is_done(&self) -> bool {
        self.obs.saw_done || self.body_ended || self.failure.is_some()
    }

    /// The observation, failed if the stream was incomplete or carried no generated text.
    pub fn finish(self) -> Observation {
        let mut obs = self.obs;
        obs.events.reasoning_events += obs.think.split(&mut obs.output);
        if let Some(reason) = self.failure {
            return obs.failed(reason);
        }
        if !obs.saw_done {
            if self.decoder.has_partial_event() {
                return obs.failed("stream cut in the middle of an event".into());
            }
            if obs.finish_reason.is_none() {
                return obs.failed("stream ended before the answer was complete (no finish_reason, no [DONE])".into());
            }
        }
        if obs.events.token_events == 0 {
            return obs.failed("the server returned no generated text".into());
        }
        obs
    }
}

/// The first 64 KiB of an error response's body, as text.
async fn error_body(body: &mut hyper::body::Incoming) -> String {
    const MAX: usize = 64 << 10;
    let mut text = Vec::new();
    while let Some(Ok(frame)) = body.frame().await {
        if let Some(bytes) = frame.data_ref() {
            text.extend_from_slice(&bytes[..bytes.len().min(MAX - text.len())]);
        }
        if text.len() >= MAX {
            break;
        }
    }
    String::from_utf8_lossy(&text).into_owned()
}

impl Observation {
    /// A request that could not be sent at all (e.g. its URL is unusable).
    pub fn unsent(reason: String) -> Self {
        Observation::default().failed(reason)
    }

    fn failed(mut self, reason: String) -> Self {
        self.error = Some(reason);
        self
    }

    fn on_item(&mut self, item: SseItem<'_>, at: Duration) -> Result<(), String> {
        let SseItem::Event { name, data } = item else { return Ok(()) };
        if !matches!(name, None | Some("message")) {
            return Ok(()); // named events (progress, status) are not chat-completion chunks
        }
        if data == b"[DONE]" {
            self.stream_done(at);
            return Ok(());
        }
        let chunk: Chunk = serde_json::from_slice(data).map_err(|e| format!("malformed JSON in stream: {e} (data starts {:?})", preview(data)))?;
        if let Some(error) = chunk.error {
            return Err(format!("server error in stream: {}", chunk::error_message(&format!("{{\"error\":{}}}", error.get()))));
        }
        let mut carried_text = false;
        for choice in &chunk.choices {
            if let Some(delta) = &choice.delta {
                if let Some(text) = delta.content_text() {
                    self.push_content(text);
                    carried_text = true;
                }
                if let Some(text) = delta.reasoning_text() {
                    self.push_reasoning(text);
                    carried_text = true;
                }
                if delta.has_tool_calls() {
                    self.tool_call_event(at);
                    carried_text = true;
                }
            }
            if let Some(reason) = &choice.finish_reason {
                self.finish_reason = Some(reason.to_string());
            }
        }
        if carried_text {
            self.token_event(at);
            // A running count on a token-bearing event: usage on every chunk (vLLM
            // `continuous_usage_stats`) or per-token timings (llama-server). Trusted from the
            // second such event on, so that a final usage riding on the last text is not taken
            // for one.
            let running = chunk.usage.as_ref().and_then(|u| u.completion_tokens).or(chunk.timings.as_ref().and_then(|t| t.predicted_n));
            self.counted_events = if running.is_some() { self.counted_events + 1 } else { 0 };
            self.events.streamed_tokens = running.filter(|_| self.counted_events >= 2);
        }
        if chunk.usage.is_some() {
            self.usage = chunk.usage;
        }
        if chunk.timings.is_some() {
            self.timings = chunk.timings;
        }
        Ok(())
    }
}

impl Observation {
    fn push_content(&mut self, text: &str) {
        let start = self.output.content.len();
        self.output.content.push_str(text);
        self.think.on_content(&self.output.content, start);
    }

    fn push_reasoning(&mut self, text: &str) {
        self.output.reasoning.push_str(text);
        self.events.reasoning_events += 1;
    }

    fn tool_call_event(&mut self, at: Duration) {
        self.events.tool_call_events += 1;
        self.first_tool_call.get_or_insert(at);
    }

    fn token_event(&mut self, at: Duration) {
        self.events.token_events += 1;
        self.token_times.push(at);
    }

    fn stream_done(&mut self, at: Duration) {
        self.saw_done = true;
        self.end = Some(at);
    }

    /// One line of Ollama's native `/api/chat` stream.
    fn on_ollama_line(&mut self, item: SseItem<'_>, at: Duration) -> Result<(), String> {
        let SseItem::Event { data, .. } = item else { return Ok(()) };
        let line: OllamaLine = serde_json::from_slice(data).map_err(|e| format!("malformed JSON in stream: {e} (line starts {:?})", preview(data)))?;
        if let Some(error) = line.error {
            return Err(format!("server error in stream: {error}"));
        }
        let mut carried_text = false;
        if let Some(message) = &line.message {
            if let Some(text) = message.content.as_deref().filter(|t| !t.is_empty()) {
                self.push_content(text);
                carried_text = true;
            }
            if let Some(text) = message.thinking.as_deref().filter(|t| !t.is_empty()) {
                self.push_reasoning(text);
                carried_text = true;
            }
            if message.tool_calls.is_some_and(|raw| !matches!(raw.get().trim(), "null" | "[]")) {
                self.tool_call_event(at);
                carried_text = true;
            }
        }
        if carried_text {
            self.token_event(at);
        }
        if line.done {
            // The last line: its counts are what Ollama's OpenAI API reports as usage.
            let stats: serde_json::Value = serde_json::from_slice(data).map_err(|e| format!("malformed JSON in stream: {e}"))?;
            self.usage = Some(Usage {
                prompt_tokens: stats.get("prompt_eval_count").and_then(|v| v.as_u64()),
                completion_tokens: stats.get("eval_count").and_then(|v| v.as_u64()),
                ..Usage::default()
            });
            self.finish_reason = line.done_reason.map(Cow::into_owned);
            self.server_stats = Some(stats);
            self.stream_done(at);
        }
        Ok(())
    }

    /// One named event of LM Studio's `/api/v1/chat` stream.
    fn on_lmstudio_event(&mut self, item: SseItem<'_>, at: Duration) -> Result<(), String> {
        let SseItem::Event { name, data } = item else { return Ok(()) };
        let parse = || serde_json::from_slice::<LmStudioEvent>(data).map_err(|e| format!("malformed JSON in stream: {e} (data starts {:?})", preview(data)));
        match name {
            Some("message.delta") => {
                if let Some(text) = parse()?.content.as_deref().filter(|t| !t.is_empty()) {
                    self.push_content(text);
                    self.token_event(at);
                }
            }
            Some("reasoning.delta") => {
                if let Some(text) = parse()?.content.as_deref().filter(|t| !t.is_empty()) {
                    self.push_reasoning(text);
                    self.token_event(at);
                }
            }
            Some("tool_call.arguments") => {
                self.tool_call_event(at);
                self.token_event(at);
            }
            Some("error") => return Err(format!("server error in stream: {}", chunk::error_message(&String::from_utf8_lossy(data)))),
            Some("chat.end") => {
                let end: serde_json::Value = serde_json::from_slice(data).map_err(|e| format!("malformed JSON in stream: {e}"))?;
                let stats = end.pointer("/result/stats").cloned().ok_or("chat.end without result.stats")?;
                let n = |key: &str| stats.get(key).and_then(|v| v.as_u64());
                self.usage = Some(Usage {
                    prompt_tokens: n("input_tokens"),
                    completion_tokens: n("total_output_tokens"),
                    completion_tokens_details: n("reasoning_output_tokens").map(|r| chunk::CompletionDetails { reasoning_tokens: Some(r) }),
                    prompt_tokens_details: None,
                });
                self.server_stats = Some(stats);
                self.stream_done(at);
            }
            _ => {} // chat.start, model_load.*, prompt_processing.*, *.start/*.end: no generated text
        }
        Ok(())
    }
}

/// A line of Ollama's native chat stream (docs/api.md); the statistics of the last line are
/// read separately, once.
#[derive(serde::Deserialize)]
struct OllamaLine<'a> {
    #[serde(default, borrow)]
    message: Option<OllamaMessage<'a>>,
    #[serde(default)]
    done: bool,
    #[serde(default, borrow)]
    done_reason: Option<Cow<'a, str>>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(serde::Deserialize)]
struct OllamaMessage<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    thinking: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    tool_calls: Option<&'a serde_json::value::RawValue>,
}

/// The text of an LM Studio `message.delta` / `reasoning.delta` event.
#[derive(serde::Deserialize)]
struct LmStudioEvent<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
}

fn timeout_reason(now: Instant, deadline: Instant, limits: &Limits, waiting_for: &str) -> String {
    if now >= deadline {
        format!("timed out: the request exceeded its {:.1} s total limit waiting for {waiting_for}", limits.total.as_secs_f64())
    } else {
        format!("timed out: no bytes for {:.1} s waiting for {waiting_for}", limits.idle.as_secs_f64())
    }
}

/// An error with its causes, e.g. "error sending request: connection refused".
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn preview(data: &[u8]) -> String {
    String::from_utf8_lossy(&data[..data.len().min(120)]).into_owned()
}
