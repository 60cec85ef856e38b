//! The benchmark suite behind `cargo bench --bench llm`: plan what the filter selects (before
//! touching any endpoint), bring up each group's server, run every workload on it — prompt
//! categories through criterion, fidelity, agent sessions, load, prefill; paired comparisons
//! after — keeping
//! records, summary and metadata on disk as the run goes, then decide verdicts and render.
//!
//! `run` below is the whole pipeline; each step is one file here, each workload one file in
//! `workloads/` (adding one: a file there and a line in [`workloads::all`]).

mod bridge;
mod journal;
mod launch;
pub mod plan;
mod preflight;
mod recorder;
mod servers;
mod workloads;

use crate::cli_args::{CliArgs, Mode};
use crate::compare::{self, Comparison, ComparisonReport, Verdict};
use crate::config::Config;
use crate::metadata::{RunCounts, RunStatus};
use crate::paired::PairedComparison;
use crate::progress::Progress;
use crate::record::Flag;
use crate::record::GenerationRecord;
use crate::reference::{mlx::MlxManifest, vllm::VllmManifest, Manifest};
use crate::run_status;
use crate::store;
use crate::summary::{GroupStop, Summary};
use crate::verdicts::Side;
use anyhow::{bail, Result};
use criterion::Criterion;
use journal::{lock, SharedJournal};
use std::cell::RefCell;
use std::path::PathBuf;
use std::process::ExitCode;

pub use plan::{benchmark_id, plan, plan_paired, PlannedGroup, PlannedPair};

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

/// What every workload uses: the runtime and HTTP client, the journal, progress, the reference
/// installs, and the models loaded for groups (`servers.rs`).
pub(crate) struct Harness<'a> {
    pub rt: &'a tokio::runtime::Runtime,
    pub http: &'a reqwest::Client,
    pub journal: &'a SharedJournal,
    pub progress: &'a RefCell<Progress>,
    pub run_id: &'a str,
    pub reference: Option<&'a Manifest>,
    pub mlx_reference: Option<&'a MlxManifest>,
    pub vllm_reference: Option<&'a VllmManifest>,
    pub vllm_mlx_reference: Option<&'a VllmManifest>,
    /// `--sample-size`, which overrides the config.
    pub sample_size: Option<u32>,
    pub mode: Mode,
    held: RefCell<Vec<crate::dialect::lifecycle::Held>>,
    /// Flags the machine's state at the start of the current benchmark puts on its records.
    machine_flags: RefCell<Vec<Flag>>,
}

/// Entry point of `benches/llm.rs`.
pub fn main() -> ExitCode {
    let command: Vec<String> = std::env::args().collect();
    let result = CliArgs::parse(&command[1..]).and_then(|cli| {
        let config = Config::load(&crate::config::default_path())?;
        let criterion = Criterion::default().configure_from_args();
        run(
            &config,
            SuiteOptions {
                cli,
                command,
                reports_root: store::reports_root(),
            },
            criterion,
        )
    });
    match result {
        Ok(outcome) => ExitCode::from(exit_code(&outcome)),
        Err(e) => {
            eprintln!("quantbench: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs the selected benchmarks. Errors are problems found before measuring (config, prompts,
/// unreachable endpoints, install) or that make further measurement pointless (disk full).
pub fn run(config: &Config, opts: SuiteOptions, criterion: Criterion) -> Result<RunOutcome> {
    let prompts = crate::prompts::PromptLibrary::load_dir(&config.prompts_dir)?;
    let planned = plan(config, &prompts, &opts.cli.filter)?;
    let pairs = plan_paired(config, &prompts, &opts.cli.filter)?;
    let mut criterion = bridge::one_call_per_sample(criterion);
    if planned.is_empty() && pairs.is_empty() {
        let names: Vec<&str> = config.groups.iter().map(|g| g.name.as_str()).collect();
        bail!(
            "no benchmark matches the filter {}; groups in {}: {}",
            opts.cli.filter.describe(),
            config.path.display(),
            names.join(", ")
        );
    }
    let mut workloads = workloads::all(&pairs);
    if opts.cli.mode == Mode::List {
        workloads::list(&workloads, &planned, &mut criterion);
        return Ok(RunOutcome {
            run_dir: None,
            summary: None,
            abandoned: Vec::new(),
            group_stops: Vec::new(),
            status: None,
            comparisons: None,
            paired: Vec::new(),
        });
    }
    let noise = compare::noise_threshold()?;
    let baseline = baseline_to_compare(&opts)?;

    let client_threads = crate::load::client_threads()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(client_threads)
        .enable_all()
        .build()?;
    let http = crate::client::http_client()?;
    let planned_generations = workloads
        .iter()
        .map(|w| w.planned_generations(&planned, opts.cli.sample_size))
        .sum();
    let setup = servers::prepare(config, &opts, &planned, &pairs, &rt, &http, planned_generations)?;
    let journal = setup.journal.clone();
    rt.spawn(journal::stop_on_signal(journal.clone()));
    let harness = setup.harness(&rt, &http, &opts);

    let ran = workloads::run_all(&mut workloads, &planned, &harness, &mut criterion);
    harness.progress.borrow().finish();
    if let Err(e) = ran {
        lock(&journal).finish(RunStatus::Failed, Some(format!("{e:#}")))?;
        return Err(e);
    }
    criterion.final_summary();
    let mut journal = lock(&journal);
    // Verdicts and paired results first: `finish` renders the reports, which show them.
    let comparisons = match baseline {
        Some((name, records)) => Some(verdicts(&journal, &opts, name, &records, noise)?),
        None => None,
    };
    let measured = journal.records.iter().filter(|r| r.ok && !r.warmup).count();
    let planned_all: Vec<_> = workloads
        .iter()
        .flat_map(|w| w.planned_benchmarks(&planned, opts.cli.sample_size))
        .collect();
    let ran_elsewhere: Vec<_> = workloads.iter().flat_map(|w| w.ran_outside_summary(&journal)).collect();
    let (status, counts) = run_status::assess(&planned_all, &journal.summary(), &ran_elsewhere, measured);
    journal.metadata.counts = Some(counts.clone());
    let summary = journal.finish(
        status,
        (status == RunStatus::Failed).then(|| format!("nothing was measured: {}", counts.text())),
    )?;
    crate::report::console::run_end(&journal.store.dir, &journal.metadata.groups)?;
    if let Some(name) = &opts.cli.save_baseline {
        // A baseline keeps whole records: read back from the file (the journal keeps them slim).
        let records = store::read_records(&journal.store.dir.generations())?;
        let (dir, runs) = store::save_baseline(&opts.reports_root, name, &records)?;
        crate::fidelity::save_baseline(&opts.reports_root, name, &journal.fidelity)?;
        println!(
            "quantbench: saved baseline {name:?} in {} ({runs} run(s) per benchmark, up to {})",
            dir.display(),
            store::BASELINE_RUNS
        );
    }
    // Each group stop was said once, when it happened; here the count.
    println!("quantbench: run {}: {}", crate::util::serde_name(status), counts.text());
    let run_dir = Some(journal.store.dir.path().to_owned());
    let (abandoned, group_stops, paired) = (journal.abandoned(), journal.group_stops.clone(), journal.paired.clone());
    let comparisons = comparisons.map(|d| d.comparisons);
    Ok(RunOutcome {
        run_dir,
        summary: Some(summary),
        abandoned,
        group_stops,
        status: Some((status, counts)),
        comparisons,
        paired,
    })
}

/// The baseline this run is compared with: `--baseline NAME`, or, as criterion does, the previous
/// contents of `--save-baseline NAME`. A missing `--baseline` is an error before anything runs.
fn baseline_to_compare(opts: &SuiteOptions) -> Result<Option<(String, Vec<GenerationRecord>)>> {
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
    let previous = opts
        .cli
        .save_baseline
        .as_ref()
        .filter(|name| store::baseline_dir(&opts.reports_root, name).has_records());
    previous
        .map(|name| Ok((name.clone(), store::load_baseline(&opts.reports_root, name)?)))
        .transpose()
}

/// Compares this run with a baseline (speed and fidelity, one Holm family) and writes
/// `comparison.json`.
fn verdicts(
    journal: &journal::Journal,
    opts: &SuiteOptions,
    name: String,
    records: &[GenerationRecord],
    noise: f64,
) -> Result<ComparisonReport> {
    let base_fidelity = crate::fidelity::load_baseline(&opts.reports_root, &name)?;
    let baseline = Side {
        records,
        fidelity: &base_fidelity,
    };
    let doc = crate::verdicts::decide(
        name,
        baseline,
        Side {
            records: &journal.records,
            fidelity: &journal.fidelity,
        },
        noise,
    );
    journal.store.write(&journal.store.dir.comparison(), &doc)?;
    Ok(doc)
}

/// The exit code of a finished run, after saying on the terminal what did not run: 3 when the
/// regression gate is on and a comparison regressed, 1 for a `partial` run, 2 for a `failed`
/// one (nothing measured, as for a run stopped by an error), else 0.
pub fn exit_code(outcome: &RunOutcome) -> u8 {
    let regressed: Vec<&Comparison> = outcome
        .comparisons
        .iter()
        .flatten()
        .filter(|c| c.verdict == Verdict::Regressed)
        .collect();
    if gate_enabled() && !regressed.is_empty() {
        eprintln!(
            "quantbench: {GATE_ENV} is set and {} comparison(s) regressed:",
            regressed.len()
        );
        for c in &regressed {
            eprintln!("  {}/{} {}: {}", c.group, c.category, c.metric, c.change_text());
        }
        return 3;
    }
    let alone: Vec<_> = outcome
        .abandoned
        .iter()
        .filter(|(g, ..)| !outcome.group_stops.iter().any(|s| s.group == *g))
        .collect();
    for (group, category, reason) in alone {
        eprintln!("quantbench: {group}/{category} stopped early: {reason}");
    }
    match outcome.status.as_ref().map(|s| s.0) {
        Some(RunStatus::Partial) => 1,
        Some(RunStatus::Failed) => 2,
        _ => 0,
    }
}
