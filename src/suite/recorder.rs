//! The one place a generation becomes a kept record: built from what the client observed,
//! tagged, scored (after the stream has ended, off the measured path), appended to the run's
//! `generations.jsonl` and shown in the progress.

use super::journal::lock;
use super::Harness;
use crate::client::{self, Endpoint, GenerationRequest, Observation, Sampling};
use crate::config::Group;
use crate::dialect::Dialect;
use crate::prompts::Prompt;
use crate::quality::Check;
use crate::record::build::{self, SampleContext};
use crate::record::{DepthTag, GenerationRecord, LoadTag, PrefillTag, SessionTag};
use anyhow::{Context, Result};

/// One generation to keep: who and what it was for (the record's context), how it is tagged,
/// checked and shown.
pub struct Generation<'a> {
    pub ctx: SampleContext<'a>,
    pub group: &'a Group,
    /// How many warm-ups or samples the benchmark plans (progress).
    pub of: u32,
    /// The benchmark as the progress shows it.
    pub label: String,
    /// The prompt's answer check, scored when the generation succeeded.
    pub check: Option<&'a Check>,
    pub concurrency: Option<LoadTag>,
    pub prefill: Option<PrefillTag>,
    pub session: Option<SessionTag>,
    pub depth: Option<DepthTag>,
}

impl<'a> Generation<'a> {
    /// An untagged generation of `group` in run `run`, started now.
    pub fn new(run: &'a str, group: &'a Group, category: &'a str, prompt_id: &'a str, label: String) -> Self {
        let ctx = SampleContext {
            run,
            model: &group.model,
            quant: &group.quant,
            category,
            prompt_id,
            sample: 0,
            warmup: false,
            started_at: crate::util::now(),
            max_tokens: 0,
            pair: None,
        };
        Generation {
            ctx,
            group,
            of: 0,
            label,
            check: None,
            concurrency: None,
            prefill: None,
            session: None,
            depth: None,
        }
    }
}

impl Harness<'_> {
    /// Keeps one generation. An error means the record could not be written: measuring on would
    /// be pointless.
    pub fn keep(&self, g: Generation<'_>, observation: Observation, dialect: &dyn Dialect) -> Result<GenerationRecord> {
        let record = build::to_record(&g.ctx, observation, dialect);
        self.keep_record(g, record)
    }

    /// Tags, scores, appends and shows a record built from `g`.
    fn keep_record(&self, g: Generation<'_>, mut record: GenerationRecord) -> Result<GenerationRecord> {
        record.concurrency = g.concurrency;
        record.prefill = g.prefill;
        record.session = g.session;
        record.depth = g.depth;
        if let (true, Some(check)) = (record.ok, g.check) {
            record.quality = Some(crate::quality::score(check, &record.output.content));
        }
        lock(self.journal)
            .record(record.clone())
            .context("cannot keep records; stopping the run")?;
        self.progress
            .borrow_mut()
            .generation(&g.label, g.ctx.sample, g.of, &record);
        Ok(record)
    }

    /// Sends one prompt of a benchmark with the group's settings and keeps the generation.
    pub fn generate<'a>(
        &self,
        mut g: Generation<'a>,
        prompt: &'a Prompt,
        endpoint: &Endpoint,
    ) -> Result<GenerationRecord> {
        let s = &g.group.settings;
        g.ctx.max_tokens = s
            .max_tokens_cap
            .map_or(prompt.max_tokens, |cap| prompt.max_tokens.min(cap));
        g.check = prompt.check.as_ref();
        g.ctx.started_at = crate::util::now();
        let sampling = Sampling {
            temperature: prompt.temperature.unwrap_or(s.sampling.temperature),
            ..s.sampling.clone()
        };
        let request = GenerationRequest {
            messages: &prompt.messages,
            max_tokens: g.ctx.max_tokens,
            sampling: &sampling,
            tools: None,
        };
        let observation = self
            .rt
            .block_on(client::generate(self.http, endpoint, &request, &s.limits));
        let unpaired = g.ctx.pair.is_none();
        let mut record = build::to_record(&g.ctx, observation, endpoint.dialect.as_ref());
        if unpaired {
            // The machine's state when this benchmark started (see `Harness::sample_machine_state`).
            record.flags.extend(self.machine_flags.borrow().iter().copied());
        }
        self.keep_record(g, record)
    }

    /// Shows a line without tearing the progress bar.
    pub fn say(&self, text: &str) {
        self.progress.borrow().say(text);
    }
}
