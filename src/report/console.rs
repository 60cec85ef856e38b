//! The terminal report at the end of a run, like criterion's CLI report: every table read back
//! from the run directory, the same files the HTML and Markdown reports render.

use super::RunData;
use crate::metadata::GroupRun;
use anyhow::Result;
use std::path::Path;

/// Prints the run's tables: load benchmarks, prefill, fidelity, the summary, each server's
/// memory, verdicts against a baseline and paired comparisons; then where the report is.
pub fn run_end(dir: &Path, groups: &[GroupRun]) -> Result<()> {
    let run = RunData::load(dir)?;
    if let Some(report) = &run.load {
        println!("\nquantbench load benchmarks ({}): per level; percentiles over successful requests", dir.join(crate::load::REPORT_FILE).display());
        print!("{}", crate::load::analysis::table(report));
    }
    if let Some(report) = &run.prefill {
        println!("\nquantbench long-context prefill ({}): medians over successful samples", dir.join(crate::prefill::REPORT_FILE).display());
        print!("{}", crate::prefill::table(report));
    }
    if let Some(report) = run.fidelity.as_ref().filter(|r| !r.groups.is_empty()) {
        println!("\nquantbench fidelity ({}): each group forced along the reference's greedy answers; intervals over prompts", dir.join(crate::fidelity::REPORT_FILE).display());
        print!("{}", crate::fidelity::table(report));
    }
    if !run.summary.benchmarks.is_empty() {
        println!("\nquantbench summary ({}): medians over successful samples", dir.display());
        print!("{}", crate::summary::table(&run.summary));
    }
    println!("\nquantbench servers (resident memory of each server's process tree, sampled every {} ms):", crate::memory::SAMPLE_INTERVAL.as_millis());
    for g in groups {
        println!("  {}", crate::metadata::server_line(g));
    }
    if let Some(doc) = &run.comparison {
        println!("\nquantbench verdicts against baseline {:?} (noise threshold {:.0} %, Holm-corrected α = {}):", doc.baseline, doc.noise_threshold * 100.0, doc.alpha);
        print!("{}", crate::compare::table(&doc.comparisons));
    }
    if !run.paired.is_empty() {
        println!("\nquantbench paired A/B (ratio B / A of geometric means, paired t-interval on log-ratios):");
        print!("{}", crate::paired::table(&run.paired));
    }
    println!("quantbench: report {}", dir.join("index.html").display());
    Ok(())
}
