//! Drives the session and depth workloads through the shared client, one request at a time.
//! Tokenizing a turn's prompt (for its ideal reusable prefix and the context-window cut) happens
//! before the request is sent, off the timed path.

use super::file::{Mode, SessionFile};
use super::{DepthTag, IdealSource, SessionSettings, SessionTag, DEPTH, SESSION};
use crate::client::{self, Endpoint, GenerationRequest, Limits, Sampling};
use crate::generation::{self, SampleContext};
use crate::prefill::{self, Calibration};
use crate::prompts::Message;
use crate::record::GenerationRecord;
use anyhow::Result;
use serde::{Deserialize, Serialize};

/// The prompt of the follow-up request at each depth (after the filler the depth is made of).
pub const FOLLOW_UP: &str = "Now continue the story from where the text stops, in the same style.";

/// What the workloads need from the suite: where to send requests, and how to keep a record.
pub struct Host<'a> {
    pub rt: &'a tokio::runtime::Runtime,
    pub http: &'a reqwest::Client,
    pub run_id: &'a str,
    pub model: &'a str,
    pub quant: &'a str,
    /// The group's server with its prefix cache allowed.
    pub cached: &'a Endpoint,
    /// The same server with its prefix cache off (the paired side of `session_cache_off_pairs`).
    pub uncached: &'a Endpoint,
    /// The same server, prefix cache allowed, asked for exactly `max_tokens` (depth decode).
    pub fixed_length: &'a Endpoint,
    pub sampling: &'a Sampling,
    /// The group's `max_tokens_cap`, applied to every turn's `max_tokens`.
    pub max_tokens_cap: Option<u32>,
    pub limits: &'a Limits,
    pub settings: &'a SessionSettings,
    /// The server's context window, when it says.
    pub n_ctx: Option<u64>,
    /// Keeps a finished record (and shows progress); an error ends the run.
    pub keep: &'a dyn Fn(GenerationRecord) -> Result<()>,
    pub say: &'a dyn Fn(&str),
}

/// Something planned that did not run in full, and why: a session cut at the context window or
/// by a failed turn, a depth beyond the window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cut {
    pub group: String,
    /// `session` or `depth`.
    pub workload: String,
    /// The session id, or the depth in tokens.
    pub what: String,
    /// The first turn (from 0) not measured; absent for a depth.
    pub turn: Option<u32>,
    pub reason: String,
}

/// How a generation is recorded: its benchmark, prompt id and index, and whether it is set-up
/// (a warm-up, never analysed).
struct Label<'a> {
    category: &'a str,
    prompt_id: &'a str,
    sample: u32,
    warmup: bool,
}

/// The last request sent to the server, as the prefix cache sees it.
#[derive(Default)]
struct Previous {
    tokens: Option<Vec<u32>>,
    reported_prompt: Option<u64>,
}

impl Host<'_> {
    fn group(&self) -> String {
        format!("{}/{}", self.model, self.quant)
    }

    /// One streamed generation, recorded under `label` and kept.
    fn generate(&self, endpoint: &Endpoint, label: Label<'_>, request: &GenerationRequest<'_>, tag: impl FnOnce(&mut GenerationRecord)) -> Result<GenerationRecord> {
        let ctx = SampleContext {
            run: self.run_id,
            model: self.model,
            quant: self.quant,
            category: label.category,
            prompt_id: label.prompt_id,
            sample: label.sample,
            warmup: label.warmup,
            started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            max_tokens: request.max_tokens,
            pair: None,
        };
        let observation = self.rt.block_on(client::generate(self.http, endpoint, request, self.limits));
        let mut record = generation::to_record(&ctx, observation, endpoint.dialect.as_ref());
        tag(&mut record);
        (self.keep)(record.clone())?;
        Ok(record)
    }

    /// The prompt's token ids as the server renders and tokenizes it; None when it cannot.
    fn server_tokens(&self, endpoint: &Endpoint, messages: &[Message], tools: Option<&serde_json::Value>) -> Option<Vec<u32>> {
        let scoring = endpoint.dialect.token_scoring().ok()?;
        let call = |c: crate::dialect::JsonCall| {
            let future = async move { client::native_json(self.http, endpoint.server_root(), endpoint.api_key.as_deref(), &c.path, Some(&c.body), self.limits.idle).await };
            self.rt.block_on(future).ok()
        };
        let rendered = call(scoring.render_request(&endpoint.model_id, messages, tools))?;
        let text = scoring.parse_render(&rendered).ok()?;
        let tokens = call(scoring.tokenize_request(&endpoint.model_id, &text))?;
        scoring.parse_tokens(&tokens).ok()
    }
}

/// Runs every session `settings.repeats` times (and, with `cache_off_pairs`, each repeat once
/// more with the prefix cache off, the order alternating). Returns what was cut.
pub fn sessions(host: &Host<'_>, sessions: &[&SessionFile]) -> Result<Vec<Cut>> {
    let mut cuts = Vec::new();
    let mut previous = Previous::default();
    let runs_per_repeat = if host.settings.cache_off_pairs { 2 } else { 1 };
    for session in sessions {
        (host.say)(&format!("quantbench: {}/{SESSION}: {} ({} turns, {}) × {} repeat(s)", host.group(), session.id, session.turns.len(), crate::summary::serde_name(host.settings.mode), host.settings.repeats));
        for repeat in 0..host.settings.repeats {
            for i in 0..runs_per_repeat {
                let cache = runs_per_repeat == 1 || (repeat + i) % 2 == 0;
                if let Some(cut) = run_session(host, session, repeat, cache, &mut previous)? {
                    if !cuts.iter().any(|c: &Cut| c.what == cut.what && c.turn == cut.turn) {
                        (host.say)(&format!("quantbench: {}/{SESSION}: {} cut before turn {}: {}", host.group(), cut.what, cut.turn.map_or(0, |t| t + 1), cut.reason));
                        cuts.push(cut);
                    }
                }
            }
        }
    }
    Ok(cuts)
}

/// One pass through a session. The system prompt starts with a tag unique to the run, repeat and
/// cache state, so no earlier request's prefix matches turn 1 while both groups of a run still
/// see byte-identical contexts.
fn run_session(host: &Host<'_>, session: &SessionFile, repeat: u32, cache: bool, previous: &mut Previous) -> Result<Option<Cut>> {
    let mut session = session.clone();
    session.system = format!("[session {} repeat {repeat} cache {}]\n{}", host.run_id, if cache { "on" } else { "off" }, session.system);
    let endpoint = if cache { host.cached } else { host.uncached };
    let tools = session.tools_value();
    let mut live: Vec<Option<String>> = Vec::new();
    // An estimated ideal comes from this pass's own previous turn only.
    previous.reported_prompt = None;
    let cut = |turn: usize, reason: String| Cut { group: host.group(), workload: SESSION.into(), what: session.id.clone(), turn: Some(turn as u32), reason };
    for (k, turn) in session.turns.iter().enumerate() {
        let max_tokens = host.max_tokens_cap.map_or(turn.max_tokens, |cap| turn.max_tokens.min(cap));
        let messages = session.context(k, &live);
        let tokens = host.server_tokens(endpoint, &messages, tools.as_ref());
        if let (Some(n_ctx), Some(tokens)) = (host.n_ctx, &tokens) {
            if tokens.len() as u64 + u64::from(max_tokens) > n_ctx {
                return Ok(Some(cut(k, format!("{} prompt tokens + {max_tokens} to generate exceed the context window of {n_ctx}", tokens.len()))));
            }
        }
        let (ideal, source) = match (&tokens, &previous.tokens) {
            (Some(now), Some(before)) => (Some(now.iter().zip(before).take_while(|(a, b)| a == b).count() as u64), Some(IdealSource::ServerTokenizer)),
            (Some(_), None) => (None, None),
            (None, _) => (previous.reported_prompt, previous.reported_prompt.map(|_| IdealSource::Estimated)),
        };
        let tag = SessionTag {
            session: session.id.clone(),
            mode: host.settings.mode,
            repeat,
            turn: k as u32,
            prefix_cache: cache,
            prompt_tokens_tokenized: tokens.as_ref().map(|t| t.len() as u64),
            ideal_reusable: ideal,
            ideal_source: source,
        };
        let request = GenerationRequest { messages: &messages, max_tokens, sampling: host.sampling, tools: tools.as_ref() };
        let prompt_id = format!("{}#{}", session.id, k + 1);
        let record = host.generate(endpoint, Label { category: SESSION, prompt_id: &prompt_id, sample: repeat, warmup: false }, &request, |r| r.session = Some(tag))?;
        previous.tokens = tokens;
        previous.reported_prompt = record.tokens.prompt;
        if !record.ok {
            return Ok(Some(cut(k, format!("turn {} failed: {}", k + 1, record.error.as_deref().unwrap_or("?")))));
        }
        if host.settings.mode == Mode::Live {
            live.push(Some(record.output.content.clone()));
        }
    }
    Ok(None)
}

/// The depth workload: sizes the filler from the server's own counts (as `prefill` does), then
/// at each depth and repeat primes the cache with a prompt of about that many tokens (one token
/// generated) and measures a follow-up that extends it: its TTFT is the few new tokens read at
/// that depth, its decode a fixed-length decode at that depth. Returns the depths skipped.
pub fn depth(host: &Host<'_>) -> Result<Vec<Cut>> {
    let s = host.settings;
    let id = format!("{}/{DEPTH}", host.group());
    let setup = |depth, repeat| move |r: &mut GenerationRecord| r.depth = Some(DepthTag { depth, repeat, setup: true });
    let mut count = 0;
    let mut calibrate = |reps: u32| -> Result<GenerationRecord> {
        count += 1;
        let messages = prefill::messages(&format!("{} {} depth calibration {count}", host.run_id, host.group()), reps);
        let request = GenerationRequest { messages: &messages, max_tokens: 1, sampling: host.sampling, tools: None };
        host.generate(host.uncached, Label { category: DEPTH, prompt_id: "depth-calibration", sample: count, warmup: true }, &request, setup(0, 0))
    };
    let (base, filled) = (calibrate(0)?, calibrate(prefill::CALIBRATION_REPS)?);
    let cut = |depth: u32, reason: String| Cut { group: host.group(), workload: DEPTH.into(), what: depth.to_string(), turn: None, reason };
    let Some(calibration) = base.tokens.prompt.zip(filled.tokens.prompt).and_then(|(a, b)| Calibration::from_counts(a, b, prefill::CALIBRATION_REPS)) else {
        let why = base.error.or(filled.error).unwrap_or_else(|| "the server reported no usable prompt token counts".into());
        return Ok(s.depths.iter().map(|&d| cut(d, format!("prompt-size calibration failed: {why}"))).collect());
    };
    let mut cuts = Vec::new();
    for &depth in &s.depths {
        // The follow-up adds the primed answer and a short question: 64 tokens is ample.
        let needed = u64::from(depth) + 64 + u64::from(s.depth_decode_tokens);
        if let Some(n_ctx) = host.n_ctx.filter(|&n| needed > n) {
            let reason = format!("{depth} tokens of context + a follow-up and {} decoded exceed the context window of {n_ctx}", s.depth_decode_tokens);
            (host.say)(&format!("quantbench: {id}: depth {depth} skipped: {reason}"));
            cuts.push(cut(depth, reason));
            continue;
        }
        let reps = calibration.reps_for(depth);
        (host.say)(&format!("quantbench: {id}: depth {depth}: {} repeat(s)", s.depth_repeats));
        for repeat in 0..s.depth_repeats {
            let mut messages = prefill::messages(&format!("{} {} depth {depth} #{repeat}", host.run_id, host.group()), reps);
            let request = GenerationRequest { messages: &messages, max_tokens: 1, sampling: host.sampling, tools: None };
            let primed = host.generate(host.cached, Label { category: DEPTH, prompt_id: &format!("depth-{depth}-prime"), sample: repeat, warmup: true }, &request, setup(depth, repeat))?;
            if !primed.ok {
                continue;
            }
            messages.push(Message::text("assistant", primed.output.content));
            messages.push(Message::text("user", FOLLOW_UP));
            let request = GenerationRequest { messages: &messages, max_tokens: s.depth_decode_tokens, sampling: host.sampling, tools: None };
            let tag = DepthTag { depth, repeat, setup: false };
            host.generate(host.fixed_length, Label { category: DEPTH, prompt_id: &format!("depth-{depth}"), sample: repeat, warmup: false }, &request, |r| r.depth = Some(tag))?;
        }
    }
    Ok(cuts)
}
