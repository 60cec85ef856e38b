//! Paired A/B comparisons (`paired/<name>/<category>`), outside criterion (whose benchmarks time
//! one function each): warm-ups on both sides, then pairs in the order A B, B A, A B, … on the
//! same prompts; analysed as pairs into `paired.json` once all have run. Paired sessions
//! (`paired/<name>/session`, `workload = "session"`) interleave whole passes of each session the
//! same way, through the session workload's runner, and are analysed into `sessions.json`.

use super::super::journal::{lock, Journal};
use super::super::plan::{PlannedGroup, PlannedPair};
use super::super::recorder::Generation;
use super::super::Harness;
use super::sessions::{PairSide, Previous, Runner};
use super::Workload;
use crate::client::Endpoint;
use crate::config::Group;
use crate::paired;
use crate::record::PairTag;
use crate::run_status::Planned;
use anyhow::Result;
use criterion::Criterion;

pub struct Paired<'a> {
    pub pairs: &'a [PlannedPair<'a>],
}

impl Workload for Paired<'_> {
    fn planned_generations(&self, _planned: &[PlannedGroup<'_>], _sample_size: Option<u32>) -> u64 {
        self.pairs
            .iter()
            .map(|p| {
                let per_pass = u64::from(p.a.settings.warmup + p.b.settings.warmup + 2 * p.spec.pairs);
                let turns: u64 = p.sessions.iter().map(|s| s.turns.len() as u64).sum();
                p.categories.len() as u64 * per_pass
                    + turns * u64::from(2 * p.spec.pairs)
                    + p.sessions.len() as u64 * u64::from(p.a.settings.warmup + p.b.settings.warmup)
            })
            .sum()
    }

    fn planned_benchmarks(&self, _planned: &[PlannedGroup<'_>], _sample_size: Option<u32>) -> Vec<Planned> {
        self.pairs
            .iter()
            .flat_map(|p| {
                p.benchmarks()
                    .into_iter()
                    .map(move |b| super::planned(&format!("paired/{}", p.spec.name), b))
            })
            .collect()
    }

    fn ran_outside_summary(&self, journal: &Journal) -> Vec<(String, String)> {
        super::ran_by(&journal.records, |r| {
            Some((format!("paired/{}", r.pair.as_ref()?.name), r.category.clone()))
        })
    }

    fn list(&self, _group: &PlannedGroup<'_>, _criterion: &mut Criterion) {}

    fn list_after_groups(&self) {
        for p in self.pairs {
            for b in p.benchmarks() {
                println!("paired/{}/{b}: paired A/B ({} vs {})", p.spec.name, p.a.name, p.b.name);
            }
        }
    }

    fn run_after_groups(&mut self, harness: &Harness<'_>) -> Result<()> {
        for p in self.pairs {
            run_pair(harness, p)?;
        }
        let journal = &mut *lock(harness.journal);
        journal.paired = self
            .pairs
            .iter()
            .flat_map(|p| paired::analyze(&p.spec.name, &p.a.name, &p.b.name, &journal.records))
            .collect();
        if !journal.paired.is_empty() {
            journal.store.write(&journal.store.dir.paired(), &journal.paired)?;
        }
        Ok(())
    }
}

fn run_pair(h: &Harness<'_>, p: &PlannedPair<'_>) -> Result<()> {
    let id = format!("paired/{}", p.spec.name);
    let names = p.benchmarks();
    // Paired sessions reuse each side's prefix cache.
    let cache = !p.sessions.is_empty();
    let sides = match (h.open_endpoint(p.a, 1, cache), h.open_endpoint(p.b, 1, cache)) {
        (Ok(a), Ok(b)) => [(p.a, a), (p.b, b)],
        (Err(e), _) | (_, Err(e)) => {
            h.release_models(&[&p.a.name, &p.b.name])?;
            return h.abandon_group(&id, false, &names, &format!("{e:#}"));
        }
    };
    if !p.sessions.is_empty() {
        let sides = sides.each_ref().map(|(g, (endpoint, _))| (*g, endpoint));
        run_session_pairs(h, p, sides)?;
    }
    for category in &p.categories {
        let mut failures = 0;
        let mut run = |group: &Group, endpoint: &Endpoint, index: u32, warmup: bool, side: &str| -> Result<bool> {
            let prompt = category.prompts[index as usize % category.prompts.len()];
            let label = format!("paired/{}/{} ({side} {})", p.spec.name, category.name, group.name);
            let mut generation = Generation::new(h.run_id, group, category.name, &prompt.id, label);
            generation.ctx.sample = index;
            generation.ctx.warmup = warmup;
            generation.ctx.pair = Some(PairTag {
                name: p.spec.name.clone(),
                index,
                side: side.into(),
            });
            generation.of = if warmup { group.settings.warmup } else { p.spec.pairs };
            let record = h.generate(generation, prompt, endpoint)?;
            failures += u32::from(!record.ok);
            Ok(failures <= group.settings.max_failures)
        };
        let mut healthy = true;
        for ((group, (endpoint, _)), side) in sides.iter().zip(["a", "b"]) {
            for i in 0..group.settings.warmup {
                healthy &= run(group, endpoint, i, true, side)?;
            }
        }
        for index in 0..p.spec.pairs {
            let order = if index % 2 == 0 { [0, 1] } else { [1, 0] };
            for side in order {
                let (group, (endpoint, _)) = &sides[side];
                healthy = healthy && run(group, endpoint, index, false, ["a", "b"][side])?;
            }
            if !healthy {
                h.abandon(&id, &[category.name], "too many failed generations (max_failures)")?;
                break;
            }
        }
    }
    h.release_models(&[&p.a.name, &p.b.name])
}

/// Paired sessions: per session, warm-ups on both sides, then `pairs` pairs of passes in the
/// order A B, B A, A B, …, both sides replaying byte-identical contexts (the pass's tag names
/// the pair, not the side). A pass cut on one side leaves its pair out of the session figures.
fn run_session_pairs(h: &Harness<'_>, p: &PlannedPair<'_>, sides: [(&Group, &Endpoint); 2]) -> Result<()> {
    let runners = [(sides[0], "a"), (sides[1], "b")].map(|((group, endpoint), side)| {
        let pair = PairSide {
            name: &p.spec.name,
            side,
            pairs: p.spec.pairs,
        };
        Runner::new(h, group, endpoint, Some(pair))
    });
    let mut cuts = Vec::new();
    for session in &p.sessions {
        h.say(&format!(
            "quantbench: paired/{}/session: {} ({} turns) × {} pairs ({} vs {})",
            p.spec.name,
            session.id,
            session.turns.len(),
            p.spec.pairs,
            p.a.name,
            p.b.name
        ));
        for runner in &runners {
            runner.warm_up(session)?;
        }
        let mut previous = [Previous::default(), Previous::default()];
        for index in 0..p.spec.pairs {
            let order = if index % 2 == 0 { [0, 1] } else { [1, 0] };
            for side in order {
                if let Some(cut) = runners[side].run_session(session, index, true, &mut previous[side])? {
                    runners[side].note_cut(&mut cuts, cut);
                }
            }
        }
    }
    let mut journal = lock(h.journal);
    journal.session_cuts.extend(cuts);
    journal.save_sessions()
}
