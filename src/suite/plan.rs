//! The plan: which groups, prompt categories, load benchmarks, fidelity passes, agent workloads
//! and paired comparisons the filter selects — decided before any endpoint is touched.

use crate::cli_args::Filter;
use crate::config::{Config, Group, Paired, PairedWorkload};
use crate::fidelity;
use crate::load::LoadKind;
use crate::prompts::session::SessionFile;
use crate::prompts::{Category, Prompt, PromptLibrary, Selection};
use crate::session;
use anyhow::{bail, Context, Result};

/// One group and the categories the filter selected in it.
#[derive(Debug)]
pub struct PlannedGroup<'a> {
    pub group: &'a Group,
    pub categories: Vec<Category<'a>>,
    /// Load benchmarks (`group/concurrency`, `group/open_loop`) the filter named, and the
    /// group's prompts their workload mix draws from (whatever the filter says of categories).
    pub load: Vec<LoadKind>,
    pub load_prompts: Vec<Category<'a>>,
    /// The prompts of the fidelity pass (`group/fidelity`), when it runs.
    pub fidelity: Option<Vec<&'a Prompt>>,
    /// Agent workloads the filter named (`group/session`, `group/depth`; see `session`), and
    /// the sessions the group's settings select.
    pub agent: Vec<&'static str>,
    pub sessions: Vec<&'a SessionFile>,
}

impl PlannedGroup<'_> {
    /// Every benchmark planned on the group, by name: what is abandoned when its server fails.
    pub fn benchmarks(&self) -> Vec<&str> {
        let fidelity = self.fidelity.as_ref().map(|_| fidelity::BENCHMARK);
        let load = self.load.iter().map(|k| k.name());
        self.categories
            .iter()
            .map(|c| c.name)
            .chain(load)
            .chain(fidelity)
            .chain(self.agent.iter().copied())
            .collect()
    }

    /// Whether a planned workload reuses the server's prefix cache (sessions, depth, warm prefill
    /// samples), so a server whose cache is a start-up flag must start with it on.
    pub fn needs_server_cache(&self) -> bool {
        !self.agent.is_empty() || self.load.contains(&LoadKind::Prefill)
    }
}

/// Benchmark id as criterion shows and filters it: `model/quant/category`.
pub fn benchmark_id(group: &Group, category: &str) -> String {
    format!("{}/{category}", group.name)
}

/// The groups and categories to run. Without a filter, models marked `default = false` are left
/// out (they need a server the user starts); with one, anything it matches runs.
pub fn plan<'a>(config: &'a Config, prompts: &'a PromptLibrary, filter: &Filter) -> Result<Vec<PlannedGroup<'a>>> {
    let mut planned = Vec::new();
    for group in &config.groups {
        if filter.is_all() && !group.default {
            continue;
        }
        let selected = prompts
            .select(&selection(group))
            .with_context(|| format!("{}: group {}", config.path.display(), group.name))?;
        let categories: Vec<Category> = selected
            .iter()
            .filter(|c| filter.matches(&benchmark_id(group, c.name)))
            .cloned()
            .collect();
        let load = load_plan(group, filter);
        let fidelity = (group.fidelity_reference.is_some()
            && filter.matches(&benchmark_id(group, fidelity::BENCHMARK)))
        .then(|| all_prompts(&selected));
        let load_prompts = if load.is_empty() { Vec::new() } else { selected };
        let agent = named_workloads(group, filter, &[session::SESSION, session::DEPTH]);
        let sessions = if agent.contains(&session::SESSION) {
            select_sessions(group, &group.settings.session.ids, prompts)?
        } else {
            Vec::new()
        };
        if !categories.is_empty() || !load.is_empty() || fidelity.is_some() || !agent.is_empty() {
            planned.push(PlannedGroup {
                group,
                categories,
                load,
                load_prompts,
                fidelity,
                agent,
                sessions,
            });
        }
    }
    fidelity_references_first(config, prompts, planned)
}

fn all_prompts<'a>(categories: &[Category<'a>]) -> Vec<&'a Prompt> {
    categories.iter().flat_map(|c| c.prompts.iter().copied()).collect()
}

/// A group's fidelity pass needs its reference's answers from this run: the reference group runs
/// just before the first group compared with it — with only its fidelity pass when the filter
/// left it out.
fn fidelity_references_first<'a>(
    config: &'a Config,
    prompts: &'a PromptLibrary,
    planned: Vec<PlannedGroup<'a>>,
) -> Result<Vec<PlannedGroup<'a>>> {
    let mut pending: Vec<Option<PlannedGroup<'a>>> = planned.into_iter().map(Some).collect();
    let mut ordered: Vec<PlannedGroup<'a>> = Vec::new();
    for i in 0..pending.len() {
        let Some(p) = pending[i].take() else { continue };
        if let Some(reference) = p
            .fidelity
            .as_ref()
            .and(p.group.fidelity_reference.as_deref())
            .filter(|r| *r != p.group.name)
        {
            let group = config
                .group(reference)
                .expect("validated: the reference is one of the model's quants");
            let reference_prompts = || prompts.select(&selection(group)).map(|c| all_prompts(&c));
            match ordered.iter_mut().find(|o| o.group.name == reference) {
                // Already run before this one (for its speed benchmarks): add its pass.
                Some(earlier) if earlier.fidelity.is_none() => earlier.fidelity = Some(reference_prompts()?),
                Some(_) => {}
                None => {
                    let later = pending
                        .iter_mut()
                        .find(|q| q.as_ref().is_some_and(|q| q.group.name == reference))
                        .and_then(Option::take);
                    let mut first = later.unwrap_or(PlannedGroup {
                        group,
                        categories: Vec::new(),
                        load: Vec::new(),
                        load_prompts: Vec::new(),
                        fidelity: None,
                        agent: Vec::new(),
                        sessions: Vec::new(),
                    });
                    if first.fidelity.is_none() {
                        first.fidelity = Some(reference_prompts()?);
                    }
                    ordered.push(first);
                }
            }
        }
        ordered.push(p);
    }
    Ok(ordered)
}

/// Load benchmarks run only when a filter names them — matches their id and spells their name
/// (`concurrency`, `open_loop`, `prefill`), so `cargo bench -- smollm2/q4_1` keeps meaning the
/// group's prompt categories: they take minutes and restart a managed server with more slots.
fn load_plan(group: &Group, filter: &Filter) -> Vec<LoadKind> {
    let names: Vec<&str> = group.settings.load.kinds().into_iter().map(LoadKind::name).collect();
    let named = named_workloads(group, filter, &names);
    group
        .settings
        .load
        .kinds()
        .into_iter()
        .filter(|k| named.contains(&k.name()))
        .collect()
}

/// The opt-in workloads among `names` that a filter both matches and spells.
fn named_workloads<'n>(group: &Group, filter: &Filter, names: &[&'n str]) -> Vec<&'n str> {
    if filter.is_all() {
        return Vec::new();
    }
    names
        .iter()
        .copied()
        .filter(|name| filter.spells(name) && filter.matches(&benchmark_id(group, name)))
        .collect()
}

/// The sessions a group runs: those `ids` names (its `sessions` setting, or a paired entry's),
/// else every session in its languages.
fn select_sessions<'a>(g: &Group, ids: &[String], prompts: &'a PromptLibrary) -> Result<Vec<&'a SessionFile>> {
    let s = &g.settings;
    for id in ids {
        if !prompts.sessions.iter().any(|f| &f.id == id) {
            let known: Vec<&str> = prompts.sessions.iter().map(|f| f.id.as_str()).collect();
            bail!("{}: session {id:?} not found (available: {})", g.name, known.join(", "));
        }
    }
    let wanted = |f: &&SessionFile| {
        if ids.is_empty() {
            s.languages.is_empty() || s.languages.contains(&f.language)
        } else {
            ids.contains(&f.id)
        }
    };
    let chosen: Vec<&SessionFile> = prompts.sessions.iter().filter(wanted).collect();
    if chosen.is_empty() {
        bail!(
            "{}: no session file in the group's languages ({})",
            g.name,
            s.languages.join(", ")
        );
    }
    Ok(chosen)
}

/// The prompts a group's settings select.
fn selection(g: &Group) -> Selection<'_> {
    let s = &g.settings;
    Selection {
        sets: &s.prompt_sets,
        languages: &s.languages,
        categories: &s.categories,
    }
}

/// A paired A/B comparison and what the filter selected for it: categories, or (with
/// `workload = "session"`) sessions.
#[derive(Debug)]
pub struct PlannedPair<'a> {
    pub spec: &'a Paired,
    pub a: &'a Group,
    pub b: &'a Group,
    pub categories: Vec<Category<'a>>,
    pub sessions: Vec<&'a SessionFile>,
}

impl PlannedPair<'_> {
    /// The benchmarks it plans, by name (`paired/<name>/<this>`).
    pub fn benchmarks(&self) -> Vec<&str> {
        let session = (!self.sessions.is_empty()).then_some(session::SESSION);
        self.categories.iter().map(|c| c.name).chain(session).collect()
    }
}

/// Paired comparisons run only when a filter names them (`paired/<name>[/<category>]`); they
/// use side A's prompts, in the categories side B also has, or side A's sessions
/// (`paired/<name>/session`).
pub fn plan_paired<'a>(
    config: &'a Config,
    prompts: &'a PromptLibrary,
    filter: &Filter,
) -> Result<Vec<PlannedPair<'a>>> {
    let mut planned = Vec::new();
    if filter.is_all() {
        return Ok(planned);
    }
    for spec in &config.paired {
        let (a, b) = (
            config.group(&spec.a).expect("validated"),
            config.group(&spec.b).expect("validated"),
        );
        if spec.workload == PairedWorkload::Session {
            if filter.matches(&format!("paired/{}/{}", spec.name, session::SESSION)) {
                let ids = if spec.sessions.is_empty() {
                    &a.settings.session.ids
                } else {
                    &spec.sessions
                };
                let sessions = select_sessions(a, ids, prompts)?;
                planned.push(PlannedPair {
                    spec,
                    a,
                    b,
                    categories: Vec::new(),
                    sessions,
                });
            }
            continue;
        }
        let select = |g: &'a Group| prompts.select(&selection(g));
        let b_names: Vec<&str> = select(b)?.iter().map(|c| c.name).collect();
        let categories: Vec<Category> = select(a)?
            .into_iter()
            .filter(|c| b_names.contains(&c.name) && filter.matches(&format!("paired/{}/{}", spec.name, c.name)))
            .collect();
        if !categories.is_empty() {
            planned.push(PlannedPair {
                spec,
                a,
                b,
                categories,
                sessions: Vec::new(),
            });
        }
    }
    Ok(planned)
}

/// Measured samples per benchmark: `--sample-size` if given, else the config's `samples`.
pub fn samples_for(cli_sample_size: Option<u32>, g: &Group) -> u32 {
    cli_sample_size.unwrap_or(g.settings.samples)
}
