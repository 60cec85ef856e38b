//! The benchmark suite behind `cargo bench --bench llm`: plan what the filter selects (before
//! touching any endpoint), bring up each group's server, run every workload on it — prompt
//! categories through criterion, fidelity, agent sessions, load, prefill; paired comparisons
//! after — keeping
//! records, summary and metadata on disk as the run goes, then decide verdicts and render.
//!
//! `run` below is the whole pipeline; each step is one file here, each workload one file in
//! `workloads/` (adding one: a file there and a line in [`workloads::all`]).

mod bridge;
pub mod endpoint;
mod help;
mod journal;
mod launch;
mod listing;
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
use crate::report::sanitize::terminal;
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
    /// Comparisons asked for (`--baseline`) that did not happen: measured benchmarks without a
    /// verdict, or the baseline itself when `--baseline-lenient` found none. The gate fails on any.
    pub missing_comparisons: Vec<String>,
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
    /// Threads of a load level (`load::client_threads`).
    pub client_threads: usize,
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
    if command[1..].iter().any(|a| a == "--help" || a == "-h") {
        print!("{}", help::text());
        return ExitCode::SUCCESS;
    }
    let result = CliArgs::parse(&command[1..]).and_then(|cli| {
        let config = Config::load_located(None)?;
        let criterion = bridge::criterion_without_gnuplot_notice().configure_from_args();
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
            eprintln!("quantbench: {}", terminal(&format!("{e:#}")));
            ExitCode::from(2)
        }
    }
}

/// Runs the selected benchmarks. Errors are problems found before measuring (config, prompts,
/// unreachable endpoints, install) or that make further measurement pointless (disk full).
pub fn run(config: &Config, opts: SuiteOptions, criterion: Criterion) -> Result<RunOutcome> {
    let prompts = crate::prompts::PromptLibrary::load(&config.prompts_dir)?;
    let planned = plan(config, &prompts, &opts.cli.filter)?;
    let pairs = plan_paired(config, &prompts, &opts.cli.filter)?;
    let mut criterion = bridge::without_criterion_baselines(bridge::one_call_per_sample(criterion), &opts.cli);
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
        for line in listing::selectable_by_name(config, &prompts, &opts.cli.filter, &planned) {
            println!("{line}");
        }
        return Ok(RunOutcome {
            run_dir: None,
            summary: None,
            abandoned: Vec::new(),
            group_stops: Vec::new(),
            status: None,
            comparisons: None,
            paired: Vec::new(),
            missing_comparisons: Vec::new(),
        });
    }
    let noise = compare::noise_threshold_or(opts.cli.noise_threshold)?;
    let planned_all: Vec<_> = workloads
        .iter()
        .flat_map(|w| w.planned_benchmarks(&planned, opts.cli.sample_size))
        .collect();
    let benchmarks: Vec<(String, String)> = planned_all
        .iter()
        .map(|p| (p.group.clone(), p.benchmark.clone()))
        .collect();
    let baseline = baseline_to_compare(&opts, &benchmarks)?;

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
    let harness = setup.harness(&rt, &http, client_threads, &opts);

    let ran = workloads::run_all(&mut workloads, &planned, &harness, &mut criterion);
    harness.progress.borrow().finish();
    if let Err(e) = ran {
        // The run's own error first: a status that cannot be written (a full disk) must not hide it.
        return match lock(&journal).finish(RunStatus::Failed, Some(run_status::failure_text(&e))) {
            Ok(_) => Err(e),
            Err(also) => Err(anyhow::anyhow!(
                "{e:#}; the run's status could not be saved either: {also:#}"
            )),
        };
    }
    criterion.final_summary();
    let mut journal = lock(&journal);
    // Verdicts and paired results first: `finish` renders the reports, which show them.
    let comparisons = match baseline {
        Some((name, records)) => Some(verdicts(&journal, &opts, name, &records, noise)?),
        None => None,
    };
    let missing_comparisons = missing_comparisons(&opts, &journal.records, comparisons.as_ref());
    let measured = journal.records.iter().filter(|r| r.ok && !r.warmup).count();
    let ran_elsewhere: Vec<_> = workloads.iter().flat_map(|w| w.ran_outside_summary(&journal)).collect();
    let (status, counts) = run_status::assess(&planned_all, &journal.summary(), &ran_elsewhere, measured);
    journal.metadata.counts = Some(counts.clone());
    let summary = journal.finish(
        status,
        (status == RunStatus::Failed).then(|| format!("nothing was measured: {}", counts.text())),
    )?;
    crate::report::console::run_end(&journal.store.dir, &journal.metadata.groups)?;
    if let Some(name) = &opts.cli.save_baseline {
        let waiting = |lock: &std::path::Path| {
            eprintln!(
                "quantbench: baseline {name:?} is being saved by another run; waiting for {}",
                lock.display()
            )
        };
        // A baseline keeps whole records: read back from the file (the journal keeps them slim).
        let records = store::read_records(&journal.store.dir.generations())?;
        let saved = crate::baseline::save(&opts.reports_root, name, &records, &journal.fidelity, &waiting)?;
        let waited = if saved.waited_for_lock {
            " after waiting for another run saving it"
        } else {
            ""
        };
        println!(
            "quantbench: saved baseline {name:?} in {}{waited} ({} run(s) per benchmark, up to {})",
            saved.dir.display(),
            saved.runs,
            crate::baseline::BASELINE_RUNS
        );
    }
    // Each group stop was said once, when it happened; here the count.
    println!("quantbench: run {}: {}", crate::util::serde_name(status), counts.text());
    crate::report::console::answer(&journal.store.dir)?;
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
        missing_comparisons,
    })
}

/// The baseline this run is compared with: `--baseline NAME`, or, as criterion does, the previous
/// contents of `--save-baseline NAME` when they share a benchmark with the run (`benchmarks`,
/// the planned group/benchmark pairs). A missing (unless `--baseline-lenient`) or broken
/// `--baseline`, or one with nothing in common, is an error before anything runs.
fn baseline_to_compare(
    opts: &SuiteOptions,
    benchmarks: &[(String, String)],
) -> Result<Option<(String, Vec<GenerationRecord>)>> {
    if let Some(b) = &opts.cli.baseline {
        let missing = !store::baseline_dir(&opts.reports_root, &b.name).has_records();
        return match crate::baseline::load(&opts.reports_root, &b.name) {
            Ok(records) => {
                crate::baseline::check_in_common(&b.name, &records, &fidelity_saved(opts, &b.name)?, benchmarks)
                    .map(|()| Some((b.name.clone(), records)))
            }
            Err(e) if b.lenient && missing => {
                eprintln!(
                    "quantbench: {}; continuing without a comparison (--baseline-lenient)",
                    terminal(&format!("{e:#}"))
                );
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
    let Some(name) = previous else { return Ok(None) };
    let records = crate::baseline::load(&opts.reports_root, name)?;
    Ok(
        crate::baseline::check_in_common(name, &records, &fidelity_saved(opts, name)?, benchmarks)
            .is_ok()
            .then(|| (name.clone(), records)),
    )
}

/// The fidelity passes baseline NAME holds, as (group, benchmark) pairs.
fn fidelity_saved(opts: &SuiteOptions, name: &str) -> Result<Vec<(String, String)>> {
    let saved = crate::fidelity::load_baseline(&opts.reports_root, name)?;
    Ok(saved
        .into_iter()
        .map(|g| (g.group, crate::fidelity::BENCHMARK.to_owned()))
        .collect())
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

/// Comparisons `--baseline` asked for that did not happen (see [`RunOutcome::missing_comparisons`]).
fn missing_comparisons(
    opts: &SuiteOptions,
    records: &[GenerationRecord],
    report: Option<&ComparisonReport>,
) -> Vec<String> {
    let Some(asked) = &opts.cli.baseline else {
        return Vec::new();
    };
    let Some(report) = report else {
        return vec![format!("baseline {:?} not found (--baseline-lenient)", asked.name)];
    };
    let measured: Vec<GenerationRecord> = records.iter().filter(|r| r.ok && !r.warmup).cloned().collect();
    let benchmarks = crate::record::benchmarks(&measured);
    let compared = |g: &str, c: &str| report.comparisons.iter().any(|v| v.group == g && v.category == c);
    benchmarks
        .into_iter()
        .filter(|(g, c)| !compared(g, c))
        .map(|(g, c)| {
            format!(
                "{g}/{c}: no verdict against baseline {:?} (not in it, or fewer than 2 successful samples on a side)",
                report.baseline
            )
        })
        .collect()
}

/// The exit code of a finished run, after saying on the terminal what did not run (see
/// docs/baselines.md): 3 when the regression gate is on and a comparison regressed, 2 for a
/// `failed` run (nothing measured, as for a run stopped by an error), 4 when the gate is on and a
/// comparison asked for did not happen, 1 for a `partial` run, else 0.
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
        eprintln!("quantbench: {group}/{category} stopped early: {}", terminal(reason));
    }
    for missing in &outcome.missing_comparisons {
        eprintln!("quantbench: {missing}");
    }
    match outcome.status.as_ref().map(|s| s.0) {
        Some(RunStatus::Failed) => 2,
        _ if gate_enabled() && !outcome.missing_comparisons.is_empty() => {
            eprintln!(
                "quantbench: {GATE_ENV} is set and {} comparison(s) asked for did not happen: the gate fails",
                outcome.missing_comparisons.len()
            );
            4
        }
        Some(RunStatus::Partial) => 1,
        _ => 0,
    }
}
