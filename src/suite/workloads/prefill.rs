//! Long-context prefill (`model/quant/prefill`, see `crate::prefill`): calibrate prompt size
//! against the server's counts, then per size cold samples (unique salt, prefix cache off), one
//! priming request and warm samples of the primed prompt (prefix cache on). Sizes beyond the
//! server's context window are skipped with the reason, kept here for `prefill.json`.

use super::super::journal::{lock, Journal};
use super::super::plan::{benchmark_id, PlannedGroup};
use super::super::recorder::Generation;
use super::super::servers::GroupContext;
use super::Workload;
use crate::client::{self, Endpoint, GenerationRequest};
use crate::dialect::DialectOptions;
use crate::load::LoadKind;
use crate::prefill::{self, CacheState, PrefillTag};
use crate::record::GenerationRecord;
use crate::run_status::Planned;
use anyhow::Result;
use criterion::Criterion;

#[derive(Default)]
pub struct Prefill {
    /// Sizes not run (beyond the context window), for `prefill.json`.
    skipped: Vec<prefill::Skipped>,
}

fn planned(p: &PlannedGroup<'_>) -> bool {
    p.load.contains(&LoadKind::Prefill)
}

impl Workload for Prefill {
    fn planned_generations(&self, planned_groups: &[PlannedGroup<'_>], _sample_size: Option<u32>) -> u64 {
        let per_group = |p: &PlannedGroup<'_>| {
            let l = &p.group.settings.load;
            u64::from(p.group.settings.warmup)
                + u64::from(prefill::planned_requests(l.prefill_sizes.len(), l.prefill_samples))
        };
        planned_groups.iter().filter(|p| planned(p)).map(per_group).sum()
    }

    fn planned_benchmarks(&self, planned_groups: &[PlannedGroup<'_>], _sample_size: Option<u32>) -> Vec<Planned> {
        planned_groups
            .iter()
            .filter(|p| planned(p))
            .map(|p| super::planned(&p.group.name, LoadKind::Prefill.name()))
            .collect()
    }

    fn ran_outside_summary(&self, journal: &Journal) -> Vec<(String, String)> {
        super::ran_by(&journal.records, |r| {
            r.prefill
                .as_ref()
                .map(|_| (r.group.clone(), LoadKind::Prefill.name().to_owned()))
        })
    }

    fn list(&self, p: &PlannedGroup<'_>, _criterion: &mut Criterion) {
        if planned(p) {
            println!("{}: load benchmark", benchmark_id(p.group, LoadKind::Prefill.name()));
        }
    }

    fn run_on(&mut self, cx: &mut GroupContext<'_>) -> Result<()> {
        if !planned(cx.planned) || !cx.with_load_slots()? {
            return Ok(());
        }
        self.run(cx)
    }
}

impl Prefill {
    fn run(&mut self, cx: &GroupContext<'_>) -> Result<()> {
        let (g, h, endpoint) = (cx.planned.group, cx.harness, &cx.endpoint);
        let id = benchmark_id(g, LoadKind::Prefill.name());
        let l = &g.settings.load;
        let with_cache = |prefix_cache: bool| {
            cx.endpoint_with(DialectOptions {
                prefix_cache,
                ..g.settings.dialect_options()
            })
        };
        let (cold, warm) = (with_cache(false), with_cache(true));
        let n_ctx = h.rt.block_on(prefill::context_window(h.http, &endpoint.base_url));
        let planned = prefill::planned_requests(l.prefill_sizes.len(), l.prefill_samples);
        let mut index = 0;
        let mut salt_counter = 0;
        let mut salt = || {
            salt_counter += 1;
            format!("{} {} #{salt_counter}", h.run_id, g.name)
        };
        let mut run = |endpoint: &Endpoint, salt: &str, tag: PrefillTag| -> Result<GenerationRecord> {
            let messages = prefill::messages(salt, tag.repetitions);
            let request = GenerationRequest {
                messages: &messages,
                max_tokens: prefill::MAX_TOKENS,
                sampling: &g.settings.sampling,
                tools: None,
            };
            let prompt_id = format!("prefill-{}-{}", tag.target_tokens, crate::util::serde_name(tag.cache));
            let mut generation = Generation::new(h.run_id, g, LoadKind::Prefill.name(), &prompt_id, id.clone());
            generation.ctx.sample = index;
            generation.ctx.warmup = tag.setup;
            generation.ctx.max_tokens = prefill::MAX_TOKENS;
            generation.of = planned;
            generation.prefill = Some(tag);
            index += 1;
            let observation =
                h.rt.block_on(client::generate(h.http, endpoint, &request, &g.settings.limits));
            h.keep(generation, observation, endpoint.dialect.as_ref())
        };
        let setup = |target_tokens, repetitions, cache| PrefillTag {
            target_tokens,
            repetitions,
            cache,
            setup: true,
        };
        let base = run(&cold, &salt(), setup(0, 0, CacheState::Cold))?;
        let with_filler = run(&cold, &salt(), setup(0, prefill::CALIBRATION_REPS, CacheState::Cold))?;
        let calibration = base
            .tokens
            .prompt
            .zip(with_filler.tokens.prompt)
            .and_then(|(a, b)| prefill::Calibration::from_counts(a, b, prefill::CALIBRATION_REPS));
        let Some(calibration) = calibration else {
            let why = base
                .error
                .or(with_filler.error)
                .unwrap_or_else(|| "the server reported no usable prompt token counts".into());
            return h.abandon(
                &g.name,
                &[LoadKind::Prefill.name()],
                &format!("prompt-size calibration failed: {why}"),
            );
        };
        h.say(&format!(
            "quantbench: {id}: {:.1} prompt tokens per filler repetition, {} without filler (server counts); context window {}",
            calibration.tokens_per_rep,
            calibration.base_tokens,
            n_ctx.map_or("unknown".into(), |n| n.to_string())
        ));
        for &target in &l.prefill_sizes {
            if let Some(reason) = prefill::skip_reason(target, n_ctx) {
                h.say(&format!("quantbench: {id}: {target} tokens skipped: {reason}"));
                self.skipped.push(prefill::Skipped {
                    group: g.name.clone(),
                    target_tokens: target,
                    reason,
                });
                continue;
            }
            let reps = calibration.reps_for(target);
            let measured = |cache| PrefillTag {
                target_tokens: target,
                repetitions: reps,
                cache,
                setup: false,
            };
            for _ in 0..l.prefill_samples {
                run(&cold, &salt(), measured(CacheState::Cold))?;
            }
            let primed = salt();
            run(&warm, &primed, setup(target, reps, CacheState::Warm))?;
            for _ in 0..l.prefill_samples {
                run(&warm, &primed, measured(CacheState::Warm))?;
            }
        }
        let journal = lock(h.journal);
        if let Some(report) = prefill::report(&journal.metadata.run, &journal.records, &self.skipped) {
            journal.store.write(&journal.store.dir.prefill(), &report)?;
        }
        Ok(())
    }
}
