//! The streaming client: one chat-completion request, observed as its bytes arrive.
//!
//! Timestamps come from the monotonic clock the moment a network read returns, before any
//! parsing; every event in that read shares the timestamp. Work per event is one borrowed JSON
//! parse and appending text, with no tokenizer. The result is an [`Observation`]: what happened,
//! including how it failed; deriving counts and metrics from it is `record::build`'s job.

pub mod chunk;
pub mod connection;
pub mod http;
pub mod sse;
pub mod think;
pub mod types;

use crate::dialect::{self, Dialect, StreamReader, Wire};
use crate::prompts::Message;
use connection::{Authority, Opened};
use http_body_util::BodyExt;
use sse::SseDecoder;
use std::time::Duration;
use tokio::time::{timeout_at, Instant};

pub use http::{error_chain, http_client, native_json};
pub use types::{EventCounts, GenerationRequest, Limits, Observation, Output, Sampling, ServerReport};

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
        let mut builder = hyper::Request::post(path)
            .header(hyper::header::HOST, &authority.0)
            .header(hyper::header::CONTENT_TYPE, "application/json");
        if let Some(key) = &endpoint.api_key {
            builder = builder.header(hyper::header::AUTHORIZATION, format!("Bearer {key}"));
        }
        let request = builder
            .body(http_body_util::Full::new(bytes::Bytes::from(body)))
            .map_err(|e| format!("building the request to {url}: {e}"))?;
        let metrics_url = endpoint
            .dialect
            .metrics_path()
            .map(|path| format!("{}{path}", endpoint.server_root()));
        Ok(Prepared {
            authority,
            request,
            wire,
            metrics_url,
            max_token_events: max_token_events(req.max_tokens),
        })
    }
}

/// The URL, body and stream format of one generation: the dialect's native request, or OpenAI
/// chat completions with the dialect's additions.
pub fn request(endpoint: &Endpoint, req: &GenerationRequest<'_>) -> (String, serde_json::Value, Wire) {
    let messages = dialect::messages_to_send(endpoint.dialect.as_ref(), req.messages);
    match endpoint.dialect.native_request(&endpoint.model_id, req, &messages) {
        Some(native) => (
            format!("{}{}", endpoint.server_root(), native.path),
            native.body,
            native.wire,
        ),
        None => (
            endpoint.chat_url(),
            request_body(endpoint, req, &messages),
            Wire::OpenAiSse,
        ),
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
        let Ok(response) = builder.send().await.and_then(reqwest::Response::error_for_status) else {
            continue;
        };
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
    let listing = native_json(
        http,
        endpoint.server_root(),
        endpoint.api_key.as_deref(),
        path,
        None,
        Duration::from_secs(10),
    )
    .await
    .ok()?;
    let served = endpoint.dialect.listed_ids(&listing);
    if served.is_empty() || endpoint.dialect.serves(&endpoint.model_id, &served) {
        return None;
    }
    let more = served.len().saturating_sub(SHOWN);
    let shown = served
        .iter()
        .take(SHOWN)
        .map(|m| format!("{m:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    Some(format!(
        "the server does not serve the model_id {:?} (GET {path}); it serves {shown}{more}",
        endpoint.model_id
    ))
}

/// Runs one streamed generation: prepares it, opens its connection, then sends. Never panics
/// on what the server sends; failures are in `Observation::error` with everything measured up
/// to that point.
pub async fn generate(
    http: &reqwest::Client,
    endpoint: &Endpoint,
    req: &GenerationRequest<'_>,
    limits: &Limits,
) -> Observation {
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
        let response = http
            .get(url?)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .ok()?
            .error_for_status()
            .ok()?;
        response.text().await.ok()
    };
    let metrics_before = scrape(prepared.metrics_url.clone()).await;
    let obs = generate_stream(prepared, opened, limits).await;
    let metrics_after = if metrics_before.is_some() {
        scrape(prepared.metrics_url.clone()).await
    } else {
        None
    };
    Observation {
        metrics_before,
        metrics_after,
        ..obs
    }
}

/// The timed part: stamp the send on the open connection, then read the stream as it arrives.
async fn generate_stream(prepared: &Prepared, opened: Opened, limits: &Limits) -> Observation {
    let mut obs = Observation {
        connect: Some(opened.took),
        ..Observation::default()
    };
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
    let response = match connection
        .drive(timeout_at(next_deadline(sent, deadline), response))
        .await
    {
        Err(_) => return obs.failed(timeout_reason(Instant::now(), deadline, limits, "response headers")),
        Ok(Err(e)) => return obs.failed(format!("request failed: {}", error_chain(&e))),
        Ok(Ok(r)) => r,
    };
    obs.headers = Some(sent.elapsed());
    let status = response.status();
    obs.http_status = Some(status.as_u16());
    let mut body = response.into_body();
    if !status.is_success() {
        let text = connection
            .drive(timeout_at(
                next_deadline(Instant::now(), deadline),
                error_body(&mut body),
            ))
            .await
            .unwrap_or_default();
        let message = Some(chunk::error_message(&text)).filter(|m| !m.is_empty());
        let message = message.unwrap_or_else(|| status.canonical_reason().unwrap_or("no message").to_owned());
        return obs.failed(format!("HTTP {}: {message}", status.as_u16()));
    }

    let mut parser = StreamParser::for_wire(prepared.wire, obs, limits.max_line_bytes, prepared.max_token_events);
    loop {
        let next = connection
            .drive(timeout_at(next_deadline(Instant::now(), deadline), body.frame()))
            .await;
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
    /// The dialect's reader of one framed item of this stream.
    read: StreamReader,
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
        let decoder = if wire.is_ndjson() {
            SseDecoder::ndjson(max_line_bytes)
        } else {
            SseDecoder::new(max_line_bytes)
        };
        StreamParser {
            obs,
            decoder,
            failure: None,
            body_ended: false,
            max_token_events,
            read: wire.reader(),
        }
    }

    /// Bytes that arrived `at` after the request was sent.
    pub fn push(&mut self, bytes: &[u8], at: Duration) {
        let (obs, failure, read) = (&mut self.obs, &mut self.failure, self.read);
        let pushed = self.decoder.push(bytes, &mut |item| {
            if failure.is_none() && !obs.saw_done {
                if let Err(reason) = read(obs, item, at) {
                    *failure = Some(reason);
                }
            }
        });
        if let Err(e) = pushed {
            self.fail(e.to_string());
        }
        if self.obs.events.token_events > self.max_token_events {
            self.fail(format!(
                "the server ignored max_tokens: more than {} token events",
                self.max_token_events
            ));
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
        obs.events.reasoning_events += obs.think.split(&mut obs.output.content, &mut obs.output.reasoning);
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

fn timeout_reason(now: Instant, deadline: Instant, limits: &Limits, waiting_for: &str) -> String {
    if now >= deadline {
        format!(
            "timed out: the request exceeded its {:.1} s total limit waiting for {waiting_for}",
            limits.total.as_secs_f64()
        )
    } else {
        format!(
            "timed out: no bytes for {:.1} s waiting for {waiting_for}",
            limits.idle.as_secs_f64()
        )
    }
}
