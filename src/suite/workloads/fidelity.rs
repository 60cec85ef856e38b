//! The fidelity pass (`model/quant/fidelity`, see `crate::fidelity`): the reference group's
//! greedy answers, then every group compared with it forced along them. The plan runs a
//! reference before the groups compared with it; its answers are kept here until they are.

use super::super::journal::{lock, Journal};
use super::super::plan::{benchmark_id, PlannedGroup};
use super::super::servers::GroupContext;
use super::Workload;
use crate::fidelity::{self, pass::PassSettings, pass::ReferenceAnswers};
use crate::run_status::Planned;
use anyhow::{Context, Result};
use criterion::Criterion;
use std::collections::HashMap;

#[derive(Default)]
pub struct Fidelity {
    /// Per reference group: its answers, or why there are none.
    answers: HashMap<String, std::result::Result<ReferenceAnswers, String>>,
}

impl Workload for Fidelity {
    fn planned_generations(&self, _planned: &[PlannedGroup<'_>], _sample_size: Option<u32>) -> u64 {
        0 // teacher-forced requests, not generations: the progress bar does not count them
    }

    fn planned_benchmarks(&self, planned: &[PlannedGroup<'_>], _sample_size: Option<u32>) -> Vec<Planned> {
        planned
            .iter()
            .filter(|p| p.fidelity.is_some())
            .map(|p| super::planned(&p.group.name, fidelity::BENCHMARK))
            .collect()
    }

    fn ran_outside_summary(&self, journal: &Journal) -> Vec<(String, String)> {
        journal
            .fidelity
            .iter()
            .map(|f| (f.group.clone(), fidelity::BENCHMARK.to_owned()))
            .collect()
    }

    fn list(&self, p: &PlannedGroup<'_>, _criterion: &mut Criterion) {
        if let Some(reference) = p.fidelity.as_ref().and(p.group.fidelity_reference.as_ref()) {
            println!(
                "{}: fidelity pass against {reference}",
                benchmark_id(p.group, fidelity::BENCHMARK)
            );
        }
    }

    fn group_stopped(&mut self, p: &PlannedGroup<'_>, why: &str) {
        if p.fidelity.is_some() {
            self.answers.insert(p.group.name.clone(), Err(why.to_owned()));
        }
    }

    /// The reference's answers when this is the reference, else this group forced along them.
    fn run_on(&mut self, cx: &mut GroupContext<'_>) -> Result<()> {
        let (g, h) = (cx.planned.group, cx.harness);
        let Some(prompts) = &cx.planned.fidelity else {
            return Ok(());
        };
        let reference = g
            .fidelity_reference
            .as_deref()
            .context("a fidelity pass without a reference")?;
        let settings = PassSettings {
            tokens: g.settings.fidelity_tokens,
            top_k: g.settings.fidelity_top_k,
            timeout: g.settings.limits.total,
        };
        let say = |m: String| h.say(&format!("quantbench: {}: {m}", benchmark_id(g, fidelity::BENCHMARK)));
        say(format!(
            "greedy answers of up to {} tokens, top-{} log-probabilities, {} prompts, against {reference}",
            settings.tokens,
            settings.top_k,
            prompts.len()
        ));
        let (http, endpoint) = (h.http, &cx.endpoint);
        let result = if reference == g.name {
            let (answers, result) =
                h.rt.block_on(fidelity::pass::reference(http, endpoint, &g.name, prompts, settings));
            let answers = match &result.unavailable {
                Some(reason) => Err(reason.clone()),
                None => Ok(answers),
            };
            self.answers.insert(g.name.clone(), answers);
            result
        } else {
            match self.answers.get(reference) {
                Some(Ok(answers)) => h.rt.block_on(fidelity::pass::compare(
                    http, endpoint, &g.name, prompts, answers, settings,
                )),
                Some(Err(reason)) => fidelity::pass::unavailable(
                    &g.name,
                    reference,
                    settings,
                    format!("the reference {reference} has no answers: {reason}"),
                ),
                None => fidelity::pass::unavailable(
                    &g.name,
                    reference,
                    settings,
                    format!("the reference {reference} did not run"),
                ),
            }
        };
        let failed = result.prompts.iter().filter(|p| p.error.is_some()).count();
        match (&result.summary, &result.unavailable) {
            (Some(s), _) => say(format!(
                "top-1 agreement {}, KL {} nats, greedy match {}/{} prompts{}",
                fidelity::estimate_text(&s.top1_agreement, 3),
                fidelity::estimate_text(&s.kl, 4),
                s.greedy_matches,
                s.prompts,
                if failed > 0 {
                    format!(", {failed} prompt(s) not measured")
                } else {
                    String::new()
                }
            )),
            (None, reason) => say(format!(
                "not measured: {}",
                reason
                    .as_deref()
                    .or(result.prompts.iter().find_map(|p| p.error.as_deref()))
                    .unwrap_or("no prompt")
            )),
        }
        lock(h.journal).save_fidelity(result)
    }
}
