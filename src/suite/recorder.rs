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
use crate::record::{ConcurrencyTag, GenerationRecord, PairTag, PrefillTag};
use anyhow::{Context, Result};

/// Who a generation was for, how it is tagged and shown.
pub struct Generation<'a> {
    pub group: &'a Group,
    pub category: &'a str,
    pub prompt_id: &'a str,
    /// Index among the benchmark's warm-ups or samples, and how many are planned (progress).
    pub sample: u32,
    pub of: u32,
    pub warmup: bool,
    pub started_at: String,
    pub max_tokens: u32,
    /// The benchmark as the progress shows it.
    pub label: String,
    /// The prompt's answer check, scored when the generation succeeded.
    pub check: Option<&'a Check>,
    pub pair: Option<PairTag>,
    pub concurrency: Option<ConcurrencyTag>,
    pub prefill: Option<PrefillTag>,
}

impl<'a> Generation<'a> {
    /// An untagged generation of `group`, started now.
    pub fn new(group: &'a Group, category: &'a str, prompt_id: &'a str, label: String) -> Self {
        Generation {
            group,
            category,
            prompt_id,
            sample: 0,
            of: 0,
            warmup: false,
            started_at: crate::util::now(),
            max_tokens: 0,
            label,
            check: None,
            pair: None,
            concurrency: None,
            prefill: None,
        }
    }
}

impl Harness<'_> {
    /// Keeps one generation. An error means the record could not be written: measuring on would
    /// be pointless.
    pub fn keep(&self, g: Generation<'_>, observation: Observation, dialect: &dyn Dialect) -> Result<GenerationRecord> {
        let ctx = SampleContext {
            run: self.run_id,
            model: &g.group.model,
            quant: &g.group.quant,
            category: g.category,
            prompt_id: g.prompt_id,
            sample: g.sample,
            warmup: g.warmup,
            started_at: g.started_at,
            max_tokens: g.max_tokens,
            pair: g.pair,
        };
        let mut record = build::to_record(&ctx, observation, dialect);
        record.concurrency = g.concurrency;
        record.prefill = g.prefill;
        if let (true, Some(check)) = (record.ok, g.check) {
            record.quality = Some(crate::quality::score(check, &record.output.content));
        }
        lock(self.journal).record(record.clone()).context("cannot keep records; stopping the run")?;
        self.progress.borrow_mut().generation(&g.label, g.sample, g.of, &record);
        Ok(record)
    }

    /// Sends one prompt of a benchmark with the group's settings and keeps the generation.
    pub fn generate<'a>(&self, mut g: Generation<'a>, prompt: &'a Prompt, endpoint: &Endpoint) -> Result<GenerationRecord> {
        let s = &g.group.settings;
        g.max_tokens = s.max_tokens_cap.map_or(prompt.max_tokens, |cap| prompt.max_tokens.min(cap));
        g.check = prompt.check.as_ref();
        g.started_at = crate::util::now();
        let sampling = Sampling { temperature: prompt.temperature.unwrap_or(s.sampling.temperature), ..s.sampling.clone() };
        let request = GenerationRequest { messages: &prompt.messages, max_tokens: g.max_tokens, sampling: &sampling };
        let observation = self.rt.block_on(client::generate(self.http, endpoint, &request, &s.limits));
        self.keep(g, observation, endpoint.dialect.as_ref())
    }

    /// Shows a line without tearing the progress bar.
    pub fn say(&self, text: &str) {
        self.progress.borrow().say(text);
    }
}
