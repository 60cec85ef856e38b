//! Agent sessions and context depth (`model/quant/session`, `…/depth`; see `crate::session`),
//! opt-in by filter like the load benchmarks, one request at a time through the shared client.
//! Tokenizing a turn's prompt (for its ideal reusable prefix and the context-window cut) happens
//! before the request is sent, off the timed path. What was cut is kept in the journal for
//! `sessions.json`. The [`Runner`] also drives the paired sessions (`paired/<name>/session`).

use super::super::journal::{lock, Journal};
use super::super::plan::{benchmark_id, PlannedGroup};
use super::super::recorder::Generation;
use super::super::servers::GroupContext;
use super::super::Harness;
use super::Workload;
use crate::client::{self, Endpoint, GenerationRequest};
use crate::config::Group;
use crate::dialect::{DialectOptions, Rendered};
use crate::prefill::{self, Calibration};
use crate::prompts::session::{Mode, SessionFile};
use crate::prompts::Message;
use crate::record::{DepthTag, GenerationRecord, IdealSource, PairTag, SessionTag};
use crate::run_status::Planned;
use crate::session::analysis::Cut;
use crate::session::{DEPTH, SESSION};
use anyhow::Result;
use criterion::Criterion;

/// The prompt of the follow-up request at each depth (after the filler the depth is made of).
pub const FOLLOW_UP: &str = "Now continue the story from where the text stops, in the same style.";

pub struct Sessions;

impl Workload for Sessions {
    fn planned_generations(&self, planned: &[PlannedGroup<'_>], _sample_size: Option<u32>) -> u64 {
        planned.iter().map(agent_generations).sum()
    }

    fn planned_benchmarks(&self, planned: &[PlannedGroup<'_>], _sample_size: Option<u32>) -> Vec<Planned> {
        planned
            .iter()
            .flat_map(|p| p.agent.iter().map(|name| super::planned(&p.group.name, name)))
            .collect()
    }

    fn ran_outside_summary(&self, journal: &Journal) -> Vec<(String, String)> {
        let key = |r: &GenerationRecord| {
            // Paired sessions count as `paired/<name>/session` (see `paired`).
            if r.pair.is_some() {
                return None;
            }
            let name = if r.session.is_some() {
                SESSION
            } else {
                r.depth.as_ref().filter(|d| !d.setup).map(|_| DEPTH)?
            };
            Some((r.group.clone(), name.to_owned()))
        };
        super::ran_by(&journal.records, key)
    }

    fn list(&self, p: &PlannedGroup<'_>, _criterion: &mut Criterion) {
        for name in &p.agent {
            println!("{}: agent workload", benchmark_id(p.group, name));
        }
    }

    /// Runs the group's agent workloads and rewrites `sessions.json` after each.
    fn run_on(&mut self, cx: &mut GroupContext<'_>) -> Result<()> {
        let p = cx.planned;
        if p.agent.is_empty() {
            return Ok(());
        }
        let h = cx.harness;
        let runner = Runner::new(h, p.group, &cx.endpoint, None);
        for &name in &p.agent {
            let cuts = if name == SESSION {
                runner.sessions(&p.sessions)?
            } else {
                runner.depth()?
            };
            let mut journal = lock(h.journal);
            journal.session_cuts.extend(cuts);
            journal.save_sessions()?;
        }
        Ok(())
    }
}

/// Generations a group's agent workloads will make at most (for the progress bar).
fn agent_generations(p: &PlannedGroup<'_>) -> u64 {
    let s = &p.group.settings.session;
    let sides = if s.cache_off_pairs { 2 } else { 1 };
    let sessions: u64 = p
        .sessions
        .iter()
        .map(|f| f.turns.len() as u64 * u64::from(s.repeats) * sides)
        .sum();
    let depth = if p.agent.contains(&DEPTH) {
        2 + 2 * s.depths.len() as u64 * u64::from(s.depth_repeats)
    } else {
        0
    };
    sessions + depth
}

/// One group's agent workloads: its server with the prefix cache on, off, and asked for exactly
/// `max_tokens` (depth decode), and its context window when the server says; and, for a side of
/// a paired session comparison, which pair and side.
pub struct Runner<'a> {
    h: &'a Harness<'a>,
    g: &'a Group,
    cached: Endpoint,
    uncached: Endpoint,
    fixed_length: Endpoint,
    n_ctx: Option<u64>,
    pair: Option<PairSide<'a>>,
}

/// A side of a paired session comparison: its name, `a` or `b`, and the pairs of passes planned.
pub struct PairSide<'a> {
    pub name: &'a str,
    pub side: &'static str,
    pub pairs: u32,
}

/// How a generation is recorded: its benchmark, prompt id and index, whether it is set-up
/// (a warm-up, never analysed), and its tag.
struct Label<'a> {
    category: &'a str,
    prompt_id: &'a str,
    sample: u32,
    warmup: bool,
    session: Option<SessionTag>,
    depth: Option<DepthTag>,
}

/// The last request sent to the server, as the prefix cache sees it.
#[derive(Default)]
pub struct Previous {
    tokens: Option<Vec<u32>>,
    reported_prompt: Option<u64>,
}

impl<'a> Runner<'a> {
    /// The runner of group `g` on its `endpoint` (asking the server its context window).
    pub fn new(h: &'a Harness<'a>, g: &'a Group, endpoint: &Endpoint, pair: Option<PairSide<'a>>) -> Self {
        let options = g.settings.dialect_options();
        let with = |prefix_cache, fixed_length| {
            let options = DialectOptions {
                prefix_cache,
                fixed_length,
                ..options.clone()
            };
            super::super::servers::endpoint_with(g, endpoint, options)
        };
        Runner {
            h,
            g,
            cached: with(true, false),
            uncached: with(false, false),
            fixed_length: with(true, true),
            n_ctx: h.rt.block_on(prefill::context_window(h.http, &endpoint.base_url)),
            pair,
        }
    }

    fn group(&self) -> String {
        format!("{}/{}", self.g.model, self.g.quant)
    }

    /// The workload's name in ids, lines and cuts: `session`, or `paired/<name>/session`.
    fn workload(&self) -> String {
        match &self.pair {
            Some(p) => format!("paired/{}/{SESSION}", p.name),
            None => SESSION.into(),
        }
    }

    /// Keeps `cut` in `cuts` and says so, once per session and turn.
    pub fn note_cut(&self, cuts: &mut Vec<Cut>, cut: Cut) {
        if !cuts
            .iter()
            .any(|c| c.what == cut.what && c.turn == cut.turn && c.group == cut.group)
        {
            let before = cut.turn.map_or(0, |t| t + 1);
            self.h.say(&format!(
                "quantbench: {}/{}: {} cut before turn {before}: {}",
                cut.group, cut.workload, cut.what, cut.reason
            ));
            cuts.push(cut);
        }
    }

    /// One streamed generation, recorded under `label` and kept.
    fn generate(
        &self,
        endpoint: &Endpoint,
        label: Label<'_>,
        request: &GenerationRequest<'_>,
    ) -> Result<GenerationRecord> {
        let (h, g, s) = (self.h, self.g, &self.g.settings);
        let id = match &self.pair {
            Some(p) => format!("{} ({} {})", self.workload(), p.side, g.name),
            None => benchmark_id(g, label.category),
        };
        let mut generation = Generation::new(h.run_id, g, label.category, label.prompt_id, id);
        generation.ctx.sample = label.sample;
        generation.ctx.warmup = label.warmup;
        generation.ctx.max_tokens = request.max_tokens;
        generation.ctx.pair = self.pair.as_ref().map(|p| PairTag {
            name: p.name.into(),
            index: label.sample,
            side: p.side.into(),
        });
        generation.of = match (&self.pair, label.category) {
            (Some(p), _) => p.pairs,
            (None, DEPTH) => s.session.depth_repeats,
            (None, _) => s.session.repeats,
        };
        (generation.session, generation.depth) = (label.session, label.depth);
        let observation = h.rt.block_on(client::generate(h.http, endpoint, request, &s.limits));
        h.keep(generation, observation, endpoint.dialect.as_ref())
    }

    /// The prompt's token ids as the server renders and tokenizes it; None when it cannot.
    fn server_tokens(
        &self,
        endpoint: &Endpoint,
        messages: &[Message],
        tools: Option<&serde_json::Value>,
    ) -> Option<Vec<u32>> {
        let scoring = endpoint.dialect.token_scoring().ok()?;
        let h = self.h;
        let call = |c: crate::dialect::JsonCall| {
            let idle = self.g.settings.limits.idle;
            let future = async move {
                client::native_json(
                    h.http,
                    endpoint.server_root(),
                    endpoint.api_key.as_deref(),
                    &c.path,
                    Some(&c.body),
                    idle,
                )
                .await
            };
            h.rt.block_on(future).ok()
        };
        let rendered = call(scoring.render_request(&endpoint.model_id, messages, tools))?;
        match scoring.parse_render(&rendered).ok()? {
            Rendered::Tokens(tokens) => Some(tokens),
            Rendered::Text(text) => {
                let tokens = call(scoring.tokenize_request(&endpoint.model_id, &text))?;
                scoring.parse_tokens(&tokens).ok()
            }
        }
    }

    /// Runs every session `repeats` times (and, with `cache_off_pairs`, each repeat once more with
    /// the prefix cache off, the order alternating). Returns what was cut.
    fn sessions(&self, sessions: &[&SessionFile]) -> Result<Vec<Cut>> {
        let s = &self.g.settings.session;
        let mut cuts = Vec::new();
        let mut previous = Previous::default();
        let runs_per_repeat = if s.cache_off_pairs { 2 } else { 1 };
        for session in sessions {
            let (group, mode) = (self.group(), crate::util::serde_name(s.mode));
            self.h.say(&format!(
                "quantbench: {group}/{SESSION}: {} ({} turns, {mode}) × {} repeat(s)",
                session.id,
                session.turns.len(),
                s.repeats
            ));
            for repeat in 0..s.repeats {
                for i in 0..runs_per_repeat {
                    let cache = runs_per_repeat == 1 || (repeat + i) % 2 == 0;
                    if let Some(cut) = self.run_session(session, repeat, cache, &mut previous)? {
                        self.note_cut(&mut cuts, cut);
                    }
                }
            }
        }
        Ok(cuts)
    }

    /// The tag that starts a pass's system prompt: unique to the run, the pair (if any), the
    /// session, the repeat and the cache state, so no earlier request's prefix matches turn 1
    /// while both groups of a run (and both sides of a pair) still see byte-identical contexts.
    /// The session comes before the repeat: a server that keeps several prompts (llama-server's
    /// RAM prompt cache) could otherwise restore another session's pass of the same repeat,
    /// whose system prompt may begin alike, and report more cached tokens than the ideal.
    fn pass_tag(&self, session: &str, repeat: &str, cache: bool) -> String {
        let pair = self
            .pair
            .as_ref()
            .map_or(String::new(), |p| format!(" pair {}", p.name));
        let cache = if cache { "on" } else { "off" };
        format!(
            "[session {}{pair} {session} repeat {repeat} cache {cache}]",
            self.h.run_id
        )
    }

    /// Paired sessions: the group's `warmup` unmeasured requests of `session`'s first turn
    /// (under a tag of their own, so that they prime no measured pass's cache).
    pub fn warm_up(&self, session: &SessionFile) -> Result<()> {
        let s = &self.g.settings;
        let mut session = session.clone();
        session.system = format!("{}\n{}", self.pass_tag(&session.id, "warm-up", true), session.system);
        let (Some(turn), tools) = (session.turns.first(), session.tools_value()) else {
            return Ok(());
        };
        let messages = session.context(0, &[]);
        let request = GenerationRequest {
            messages: &messages,
            max_tokens: s.max_tokens_cap.map_or(turn.max_tokens, |cap| turn.max_tokens.min(cap)),
            sampling: &s.sampling,
            tools: tools.as_ref(),
        };
        for i in 0..s.warmup {
            let label = Label {
                category: SESSION,
                prompt_id: &format!("{}#1", session.id),
                sample: i,
                warmup: true,
                session: None,
                depth: None,
            };
            self.generate(&self.cached, label, &request)?;
        }
        Ok(())
    }

    /// One pass through a session (see [`Self::pass_tag`]); what was cut, if anything.
    pub fn run_session(
        &self,
        session: &SessionFile,
        repeat: u32,
        cache: bool,
        previous: &mut Previous,
    ) -> Result<Option<Cut>> {
        let s = &self.g.settings;
        let mut session = session.clone();
        session.system = format!(
            "{}\n{}",
            self.pass_tag(&session.id, &repeat.to_string(), cache),
            session.system
        );
        let endpoint = if cache { &self.cached } else { &self.uncached };
        let tools = session.tools_value();
        let mut live: Vec<Option<String>> = Vec::new();
        // An estimated ideal comes from this pass's own previous turn only.
        previous.reported_prompt = None;
        let cut = |turn: usize, reason: String| Cut {
            group: self.group(),
            workload: self.workload(),
            what: session.id.clone(),
            turn: Some(turn as u32),
            reason,
        };
        for (k, turn) in session.turns.iter().enumerate() {
            let max_tokens = s.max_tokens_cap.map_or(turn.max_tokens, |cap| turn.max_tokens.min(cap));
            let messages = session.context(k, &live);
            let tokens = self.server_tokens(endpoint, &messages, tools.as_ref());
            if let (Some(n_ctx), Some(tokens)) = (self.n_ctx, &tokens) {
                if tokens.len() as u64 + u64::from(max_tokens) > n_ctx {
                    return Ok(Some(cut(
                        k,
                        format!(
                            "{} prompt tokens + {max_tokens} to generate exceed the context window of {n_ctx}",
                            tokens.len()
                        ),
                    )));
                }
            }
            let (ideal, source) = match (&tokens, &previous.tokens) {
                (Some(now), Some(before)) => (
                    Some(now.iter().zip(before).take_while(|(a, b)| a == b).count() as u64),
                    Some(IdealSource::ServerTokenizer),
                ),
                (Some(_), None) => (None, None),
                (None, _) => (
                    previous.reported_prompt,
                    previous.reported_prompt.map(|_| IdealSource::Estimated),
                ),
            };
            let tag = SessionTag {
                session: session.id.clone(),
                mode: s.session.mode,
                repeat,
                turn: k as u32,
                prefix_cache: cache,
                prompt_tokens_tokenized: tokens.as_ref().map(|t| t.len() as u64),
                ideal_reusable: ideal,
                ideal_source: source,
            };
            let request = GenerationRequest {
                messages: &messages,
                max_tokens,
                sampling: &s.sampling,
                tools: tools.as_ref(),
            };
            let prompt_id = format!("{}#{}", session.id, k + 1);
            let label = Label {
                category: SESSION,
                prompt_id: &prompt_id,
                sample: repeat,
                warmup: false,
                session: Some(tag),
                depth: None,
            };
            let record = self.generate(endpoint, label, &request)?;
            previous.tokens = tokens;
            previous.reported_prompt = record.tokens.prompt;
            if !record.ok {
                return Ok(Some(cut(
                    k,
                    format!("turn {} failed: {}", k + 1, record.error.as_deref().unwrap_or("?")),
                )));
            }
            if s.session.mode == Mode::Live {
                live.push(Some(record.output.content.clone()));
            }
        }
        Ok(None)
    }

    /// The depth workload: sizes the filler from the server's own counts (as `prefill` does),
    /// then at each depth and repeat primes the cache with a prompt of about that many tokens (one
    /// token generated) and measures a follow-up that extends it: its TTFT is the few new tokens
    /// read at that depth, its decode a fixed-length decode at that depth. Returns the depths
    /// skipped.
    fn depth(&self) -> Result<Vec<Cut>> {
        let (s, sampling) = (&self.g.settings.session, &self.g.settings.sampling);
        let group = self.group();
        let id = format!("{group}/{DEPTH}");
        let setup = |depth, repeat| {
            Some(DepthTag {
                depth,
                repeat,
                setup: true,
            })
        };
        fn label(prompt_id: &str, sample: u32, warmup: bool, depth: Option<DepthTag>) -> Label<'_> {
            Label {
                category: DEPTH,
                prompt_id,
                sample,
                warmup,
                session: None,
                depth,
            }
        }
        let mut count = 0;
        let mut calibrate = |reps: u32| -> Result<GenerationRecord> {
            count += 1;
            let messages = prefill::messages(&format!("{} {group} depth calibration {count}", self.h.run_id), reps);
            let request = GenerationRequest {
                messages: &messages,
                max_tokens: 1,
                sampling,
                tools: None,
            };
            self.generate(
                &self.uncached,
                label("depth-calibration", count, true, setup(0, 0)),
                &request,
            )
        };
        let (base, filled) = (calibrate(0)?, calibrate(prefill::CALIBRATION_REPS)?);
        let cut = |depth: u32, reason: String| Cut {
            group: self.group(),
            workload: DEPTH.into(),
            what: depth.to_string(),
            turn: None,
            reason,
        };
        let calibration = base
            .tokens
            .prompt
            .zip(filled.tokens.prompt)
            .and_then(|(a, b)| Calibration::from_counts(a, b, prefill::CALIBRATION_REPS));
        let Some(calibration) = calibration else {
            let why = base
                .error
                .or(filled.error)
                .unwrap_or_else(|| "the server reported no usable prompt token counts".into());
            return Ok(s
                .depths
                .iter()
                .map(|&d| cut(d, format!("prompt-size calibration failed: {why}")))
                .collect());
        };
        let mut cuts = Vec::new();
        for &depth in &s.depths {
            // The follow-up adds the primed answer and a short question: 64 tokens is ample.
            let needed = u64::from(depth) + 64 + u64::from(s.depth_decode_tokens);
            if let Some(n_ctx) = self.n_ctx.filter(|&n| needed > n) {
                let reason = format!(
                    "{depth} tokens of context + a follow-up and {} decoded exceed the context window of {n_ctx}",
                    s.depth_decode_tokens
                );
                self.h
                    .say(&format!("quantbench: {id}: depth {depth} skipped: {reason}"));
                cuts.push(cut(depth, reason));
                continue;
            }
            let reps = calibration.reps_for(depth);
            self.h.say(&format!(
                "quantbench: {id}: depth {depth}: {} repeat(s)",
                s.depth_repeats
            ));
            for repeat in 0..s.depth_repeats {
                let mut messages =
                    prefill::messages(&format!("{} {group} depth {depth} #{repeat}", self.h.run_id), reps);
                let request = GenerationRequest {
                    messages: &messages,
                    max_tokens: 1,
                    sampling,
                    tools: None,
                };
                let (prime_id, follow_up_id) = (format!("depth-{depth}-prime"), format!("depth-{depth}"));
                let primed = self.generate(
                    &self.cached,
                    label(&prime_id, repeat, true, setup(depth, repeat)),
                    &request,
                )?;
                if !primed.ok {
                    continue;
                }
                messages.push(Message::text("assistant", primed.output.content));
                messages.push(Message::text("user", FOLLOW_UP));
                let request = GenerationRequest {
                    messages: &messages,
                    max_tokens: s.depth_decode_tokens,
                    sampling,
                    tools: None,
                };
                let tag = Some(DepthTag {
                    depth,
                    repeat,
                    setup: false,
                });
                self.generate(&self.fixed_length, label(&follow_up_id, repeat, false, tag), &request)?;
            }
        }
        Ok(cuts)
    }
}
