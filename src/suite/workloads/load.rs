//! Load benchmarks (`model/quant/concurrency`, `…/open_loop`; see `crate::load`), outside
//! criterion: a level is many requests at once, not one timed function. A level's records are
//! kept when the level ends: writing and syncing them while its streams run would stall the very
//! reads being timed.

use super::super::journal::{lock, Journal};
use super::super::plan::{benchmark_id, PlannedGroup};
use super::super::recorder::Generation;
use super::super::servers::GroupContext;
use super::Workload;
use crate::load::{self, LoadKind};
use crate::managed::ManagedServer;
use crate::run_status::Planned;
use anyhow::Result;
use criterion::Criterion;
use std::time::Duration;

pub struct Load;

/// The load benchmarks of a group this workload runs (prefill has its own).
fn kinds<'p>(p: &'p PlannedGroup<'_>) -> impl Iterator<Item = LoadKind> + 'p {
    p.load.iter().copied().filter(|k| *k != LoadKind::Prefill)
}

impl Workload for Load {
    fn planned_generations(&self, planned: &[PlannedGroup<'_>], _sample_size: Option<u32>) -> u64 {
        let per_group = |p: &PlannedGroup<'_>| {
            let l = &p.group.settings.load;
            let measured = |kind| match kind {
                LoadKind::Concurrency => l.concurrency_levels.iter().map(|&n| u64::from(l.requests_at(n))).sum(),
                _ => l.open_loop_rates.len() as u64 * u64::from(l.open_loop_requests),
            };
            kinds(p)
                .map(|kind| u64::from(p.group.settings.warmup) + measured(kind))
                .sum::<u64>()
        };
        planned.iter().map(per_group).sum()
    }

    fn planned_benchmarks(&self, planned: &[PlannedGroup<'_>], _sample_size: Option<u32>) -> Vec<Planned> {
        planned
            .iter()
            .flat_map(|p| kinds(p).map(|k| super::planned(&p.group.name, k.name())))
            .collect()
    }

    fn ran_outside_summary(&self, journal: &Journal) -> Vec<(String, String)> {
        super::ran_by(&journal.records, |r| {
            Some((r.group.clone(), r.concurrency.as_ref()?.benchmark.name().to_owned()))
        })
    }

    fn list(&self, p: &PlannedGroup<'_>, _criterion: &mut Criterion) {
        for kind in kinds(p) {
            println!("{}: load benchmark", benchmark_id(p.group, kind.name()));
        }
    }

    fn run_on(&mut self, cx: &mut GroupContext<'_>) -> Result<()> {
        let (g, h) = (cx.planned.group, cx.harness);
        if kinds(cx.planned).next().is_none() || !cx.with_load_slots()? {
            return Ok(());
        }
        let (l, s) = (&g.settings.load, &g.settings);
        let lcx = load::LevelContext {
            http: h.http,
            endpoint: &cx.endpoint,
            sampling: &s.sampling,
            limits: &s.limits,
            threads: h.client_threads,
        };
        let seed = s.sampling.seed.unwrap_or(0);
        for kind in kinds(cx.planned) {
            let id = benchmark_id(g, kind.name());
            let levels: Vec<(String, load::Shape, u32)> = match kind {
                LoadKind::OpenLoop => l
                    .open_loop_rates
                    .iter()
                    .map(|&rate| {
                        (
                            format!("{rate} req/s"),
                            load::Shape::Open {
                                rate_per_s: rate,
                                arrivals: l.open_loop_arrivals,
                                seed,
                            },
                            l.open_loop_requests,
                        )
                    })
                    .collect(),
                _ => l
                    .concurrency_levels
                    .iter()
                    .map(|&n| {
                        (
                            format!("{n} streams"),
                            load::Shape::Closed { streams: n },
                            l.requests_at(n),
                        )
                    })
                    .collect(),
            };
            let Some(warmups) = load::schedule::mix_jobs(&cx.planned.load_prompts, &l.load_mix, s.warmup) else {
                h.abandon(
                    &g.name,
                    &[kind.name()],
                    "the group selects no prompts for the workload mix",
                )?;
                continue;
            };
            h.say(&format!(
                "quantbench: {id}: {} warm-up request(s), then {} level(s)",
                warmups.len(),
                levels.len()
            ));
            let warm = load::run_level(&lcx, kind, &load::Shape::Closed { streams: 1 }, &warmups);
            keep_level(cx, kind, true, warm)?;
            for (label, shape, n) in &levels {
                if let Some(reason) = cx.server.as_mut().and_then(ManagedServer::exited) {
                    h.abandon(&g.name, &[kind.name()], &reason)?;
                    break;
                }
                let jobs = load::schedule::mix_jobs(&cx.planned.load_prompts, &l.load_mix, *n)
                    .expect("the mix found prompts for the warm-ups");
                h.say(&format!("quantbench: {id}: {label}: {n} requests"));
                let finished = load::run_level(&lcx, kind, shape, &jobs);
                let failed = keep_level(cx, kind, false, finished)?;
                if failed > s.max_failures {
                    h.abandon(
                        &g.name,
                        &[kind.name()],
                        &format!(
                            "{failed} requests failed at {label} (max_failures = {})",
                            s.max_failures
                        ),
                    )?;
                    break;
                }
            }
        }
        Ok(())
    }
}

/// Keeps a level's requests as records and rewrites `concurrency.json`. Returns how many failed.
fn keep_level(cx: &GroupContext<'_>, kind: LoadKind, warmup: bool, finished: Vec<load::Finished>) -> Result<u32> {
    let (g, h) = (cx.planned.group, cx.harness);
    let total = finished.len() as u32;
    let mut failed = 0;
    for (i, f) in finished.into_iter().enumerate() {
        let since_sent = f.observation.sent.map_or(Duration::ZERO, |t| t.elapsed());
        let started = chrono::Utc::now() - chrono::TimeDelta::from_std(since_sent).unwrap_or_default();
        let mut generation = Generation::new(h.run_id, g, kind.name(), &f.prompt_id, benchmark_id(g, kind.name()));
        generation.ctx.sample = i as u32;
        generation.ctx.warmup = warmup;
        generation.ctx.started_at = crate::util::rfc3339(started);
        generation.ctx.max_tokens = f.max_tokens;
        generation.of = total;
        generation.concurrency = Some(f.tag);
        let record = h.keep(generation, f.observation, cx.endpoint.dialect.as_ref())?;
        failed += u32::from(!record.ok);
    }
    let journal = lock(h.journal);
    if let Some(report) = load::analysis::report(&journal.metadata.run, &journal.records) {
        journal.store.write(&journal.store.dir.load(), &report)?;
    }
    Ok(failed)
}
