//! `--list` beyond what would run: every other benchmark the filter can select — groups of
//! `default = false` models, load benchmarks, fidelity passes and paired comparisons, which run
//! only when a filter names them — each marked with why it is not in this run.

use super::plan::{benchmark_id, PlannedGroup};
use crate::cli_args::Filter;
use crate::config::{Config, PairedWorkload};
use crate::fidelity;
use crate::prompts::{PromptLibrary, Selection};

/// The lines for benchmarks that `filter` matches but that do not run with it, `id: why`.
pub fn selectable_by_name(
    config: &Config,
    prompts: &PromptLibrary,
    filter: &Filter,
    planned: &[PlannedGroup<'_>],
) -> Vec<String> {
    let runs = |group: &str, benchmark: &str| {
        planned
            .iter()
            .any(|p| p.group.name == group && p.benchmarks().contains(&benchmark))
    };
    let mut lines = Vec::new();
    for group in &config.groups {
        let s = &group.settings;
        let categories = prompts
            .select(&Selection {
                sets: &s.prompt_sets,
                languages: &s.languages,
                categories: &s.categories,
            })
            .unwrap_or_default();
        let off = if group.default || !filter.is_all() {
            ""
        } else {
            "default = false, "
        };
        for c in &categories {
            if !runs(&group.name, c.name) && filter.matches(&benchmark_id(group, c.name)) {
                lines.push(format!(
                    "{}: benchmark ({off}runs when a filter names its group)",
                    benchmark_id(group, c.name)
                ));
            }
        }
        for kind in s.load.kinds() {
            if !runs(&group.name, kind.name()) && filter.matches(&benchmark_id(group, kind.name())) {
                lines.push(format!(
                    "{}: load benchmark ({off}runs when a filter names it)",
                    benchmark_id(group, kind.name())
                ));
            }
        }
        let fidelity = fidelity::BENCHMARK;
        if group.fidelity_reference.is_some()
            && !runs(&group.name, fidelity)
            && filter.matches(&benchmark_id(group, fidelity))
        {
            lines.push(format!(
                "{}: fidelity pass ({off}runs when a filter names its group or it)",
                benchmark_id(group, fidelity)
            ));
        }
    }
    for pair in &config.paired {
        let id = format!("paired/{}", pair.name);
        if filter.is_all() {
            let what = match pair.workload {
                PairedWorkload::Categories => "<category>",
                PairedWorkload::Session => crate::session::SESSION,
            };
            lines.push(format!(
                "{id}/{what}: paired A/B of {} and {} (runs when a filter names {id})",
                pair.a, pair.b
            ));
        }
    }
    lines
}
