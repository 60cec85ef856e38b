//! Prompt categories: one criterion benchmark per group × category (`model/quant/category`), one
//! generation per criterion iteration, then adaptive sampling when the group asks for it.

use super::super::bridge::{self, Ended};
use super::super::journal::lock;
use super::super::plan::{benchmark_id, samples_for, PlannedGroup};
use super::super::recorder::Generation;
use super::super::servers::GroupContext;
use super::super::Harness;
use super::Workload;
use crate::analysis;
use crate::cli_args::Mode;
use crate::client::Endpoint;
use crate::config::{Adaptive, Group};
use crate::managed::ManagedServer;
use crate::prompts::Category;
use crate::record::GenerationRecord;
use crate::run_status::Planned;
use crate::stats;
use crate::summary::GroupStop;
use anyhow::Result;
use criterion::{Criterion, SamplingMode};
use std::time::Duration;

pub struct Categories;

impl Workload for Categories {
    fn planned_generations(&self, planned: &[PlannedGroup<'_>], sample_size: Option<u32>) -> u64 {
        planned
            .iter()
            .map(|p| p.categories.len() as u64 * u64::from(p.group.settings.warmup + samples_for(sample_size, p.group)))
            .sum()
    }

    fn planned_benchmarks(&self, planned: &[PlannedGroup<'_>], sample_size: Option<u32>) -> Vec<Planned> {
        let of = |p: &PlannedGroup<'_>| {
            let one = |c: &Category<'_>| Planned {
                group: p.group.name.clone(),
                benchmark: c.name.into(),
                samples: samples_for(sample_size, p.group),
            };
            p.categories.iter().map(one).collect::<Vec<_>>()
        };
        planned.iter().flat_map(of).collect()
    }

    fn list(&self, p: &PlannedGroup<'_>, criterion: &mut Criterion) {
        if p.categories.is_empty() {
            return;
        }
        let mut group = criterion.benchmark_group(&p.group.name);
        for c in &p.categories {
            group.bench_function(c.name, |_| {});
        }
    }

    fn run_on(&mut self, cx: &mut GroupContext<'_>) -> Result<()> {
        let (g, h) = (cx.planned.group, cx.harness);
        if cx.planned.categories.is_empty() {
            return Ok(());
        }
        let mut group = cx.criterion.benchmark_group(&g.name);
        group.sampling_mode(SamplingMode::Flat);
        group.sample_size(samples_for(h.sample_size, g) as usize);
        let mut stopped = None;
        for (i, category) in cx.planned.categories.iter().enumerate() {
            let ended = match cx.server.as_mut().and_then(ManagedServer::exited) {
                Some(reason) => Ended::GroupStopped(reason),
                None => {
                    h.sample_machine_state(&g.name, category.name);
                    let mut bench = BenchmarkRun::new(h, g, category, &cx.endpoint, i == 0);
                    bridge::catch(|| {
                        group.bench_function(category.name, |b| b.iter_custom(|iters| bench.measure(iters)));
                        if let (Some(adaptive), Mode::Benchmark) = (&g.settings.adaptive, h.mode) {
                            let stop = bench.sample_until_precise(adaptive);
                            h.say(&format!(
                                "quantbench: {}: adaptive sampling stopped: {stop}",
                                benchmark_id(g, category.name)
                            ));
                            lock(h.journal).note(&g.name, category.name).sampling_stop = Some(stop);
                        }
                    })?
                }
            };
            match ended {
                Ended::Ran => {}
                Ended::Abandoned(reason) => h.abandon(&g.name, &[category.name], &reason)?,
                Ended::GroupStopped(reason) => {
                    // This benchmark and everything after it on the group: one note for the group.
                    let p = cx.planned;
                    let rest: Vec<&str> = p.benchmarks().into_iter().skip(i).collect();
                    h.abandon_group(&g.name, true, &rest, &reason)?;
                    stopped = Some(reason);
                    break;
                }
            }
            lock(h.journal).save_summary()?;
        }
        drop(group);
        if let Some(reason) = stopped {
            cx.stop_group(reason);
        }
        Ok(())
    }
}

/// One criterion benchmark: a group × category, driven by criterion's calls.
struct BenchmarkRun<'a> {
    harness: &'a Harness<'a>,
    group: &'a Group,
    category: &'a Category<'a>,
    endpoint: &'a Endpoint,
    calls: u32,
    warmups: u32,
    samples: u32,
    failures: u32,
    /// Decode rates of the successful samples so far (for adaptive sampling).
    decode_rates: Vec<f64>,
    /// The group's first benchmark: warm-ups all rejected alike stop the whole group.
    first_of_group: bool,
    /// HTTP status and error of each failed warm-up.
    warmup_failures: Vec<(Option<u16>, String)>,
}

impl<'a> BenchmarkRun<'a> {
    fn new(
        harness: &'a Harness<'a>,
        group: &'a Group,
        category: &'a Category<'a>,
        endpoint: &'a Endpoint,
        first_of_group: bool,
    ) -> Self {
        let decode_rates = Vec::new();
        BenchmarkRun {
            harness,
            group,
            category,
            endpoint,
            calls: 0,
            warmups: 0,
            samples: 0,
            failures: 0,
            decode_rates,
            first_of_group,
            warmup_failures: Vec::new(),
        }
    }

    /// criterion's `iter_custom`: run `iters` successful generations and return the sum of their
    /// end-to-end times. criterion's first call is its warm-up; the explicit warm-ups run before it.
    fn measure(&mut self, iters: u64) -> Duration {
        let warmup = self.calls == 0;
        self.calls += 1;
        if warmup {
            for _ in 1..self.group.settings.warmup {
                self.successful_generation(true);
            }
        }
        (0..iters).map(|_| self.successful_generation(warmup)).sum()
    }

    /// Adaptive sampling after criterion's samples: more samples (records only; criterion has
    /// its own) until the median decode rate is known to ± `half_width`, or a limit is reached.
    /// Returns why it stopped.
    fn sample_until_precise(&mut self, a: &Adaptive) -> String {
        let started = std::time::Instant::now();
        loop {
            let half_width = stats::quantile_ci(&self.decode_rates, 0.5, analysis::LEVEL)
                .and_then(|q| q.interval.map(|ci| (ci.upper - ci.lower) / 2.0 / q.point))
                .filter(|h| h.is_finite());
            let precision = half_width.map_or("not yet computable".into(), |h| format!("±{:.1} %", h * 100.0));
            let n = self.decode_rates.len();
            if half_width.is_some_and(|h| h <= a.half_width) {
                return format!(
                    "target reached: median decode rate known to {precision} (target ±{:.1} %) after {n} samples",
                    a.half_width * 100.0
                );
            }
            if self.samples >= a.max_samples {
                return format!(
                    "max_samples = {} reached; median decode rate known to {precision}",
                    a.max_samples
                );
            }
            if started.elapsed().as_secs_f64() >= a.max_seconds {
                return format!(
                    "adaptive_max_seconds = {} reached after {n} samples; median decode rate known to {precision}",
                    a.max_seconds
                );
            }
            self.successful_generation(false);
        }
    }

    /// Generates until one succeeds; each failure is recorded. Too many failures abandon the
    /// benchmark rather than hand criterion a made-up duration.
    fn successful_generation(&mut self, warmup: bool) -> Duration {
        loop {
            let record = self.generate(warmup);
            if let (true, Some(end)) = (record.ok, record.t.end_ns) {
                return Duration::from_nanos(end);
            }
            self.failures += 1;
            if warmup && self.first_of_group {
                self.warmup_failures
                    .push((record.http_status, record.error.clone().unwrap_or_default()));
                let enough = self.group.settings.warmup.min(self.group.settings.max_failures + 1);
                if let Some(reason) = GroupStop::rejected_warmups(&self.warmup_failures, enough) {
                    bridge::abandon_group(reason);
                }
            }
            if self.failures > self.group.settings.max_failures {
                bridge::abandon(format!(
                    "{} generations failed (max_failures = {}); last: {}",
                    self.failures,
                    self.group.settings.max_failures,
                    record.error.as_deref().unwrap_or("?")
                ));
            }
        }
    }

    fn generate(&mut self, warmup: bool) -> GenerationRecord {
        let counter = if warmup { &mut self.warmups } else { &mut self.samples };
        let index = *counter;
        *counter += 1;
        let prompt = self.category.prompts[index as usize % self.category.prompts.len()];
        let (g, category) = (self.group, self.category.name);
        let mut generation = Generation::new(self.harness.run_id, g, category, &prompt.id, benchmark_id(g, category));
        generation.ctx.sample = index;
        generation.ctx.warmup = warmup;
        generation.of = if warmup {
            g.settings.warmup
        } else {
            samples_for(self.harness.sample_size, g)
        };
        let record = self
            .harness
            .generate(generation, prompt, self.endpoint)
            .unwrap_or_else(|e| bridge::fatal(e));
        if let (false, Some(rate)) = (warmup, record.metrics.decode_rate) {
            self.decode_rates.push(rate);
        }
        record
    }
}
