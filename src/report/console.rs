//! The terminal report at the end of a run, like criterion's CLI report: every table read back
//! from the run directory, the same files the HTML and Markdown reports render.

use super::sanitize::terminal;
use super::RunData;
use crate::compare::Comparison;
use crate::fidelity::FidelityReport;
use crate::load::analysis::LoadReport;
use crate::metadata::GroupServer;
use crate::paired::PairedComparison;
use crate::prefill::PrefillReport;
use crate::session::analysis::{estimate_text, SessionReport};
use crate::stats::QuantileEstimate;
use crate::store::RunDir;
use crate::summary::Summary;
use anyhow::Result;

/// Prints the run's tables: load benchmarks, prefill, agent sessions, fidelity, the summary, each
/// server's memory, the machine's state and roofline, verdicts against a baseline and paired
/// comparisons; then where the report is.
pub fn run_end(dir: &RunDir, groups: &[GroupServer]) -> Result<()> {
    let run = RunData::load(dir.path())?;
    if let Some(report) = &run.load {
        println!(
            "\nquantbench load benchmarks ({}): per level; percentiles over successful requests",
            dir.load().display()
        );
        print!("{}", load(report));
    }
    if let Some(report) = &run.prefill {
        println!(
            "\nquantbench long-context prefill ({}): medians over successful samples",
            dir.prefill().display()
        );
        print!("{}", prefill(report));
    }
    if let Some(report) = &run.sessions {
        println!("\nquantbench agent sessions and depth ({}): geometric means with 95 % t-intervals on the logs over repeats", dir.sessions().display());
        print!("{}", sessions(report));
    }
    if let Some(report) = run.fidelity.as_ref().filter(|r| !r.groups.is_empty()) {
        println!("\nquantbench fidelity ({}): each group forced along the reference's greedy answers; intervals over prompts", dir.fidelity().display());
        print!("{}", fidelity(report));
    }
    if !run.summary.benchmarks.is_empty() {
        println!(
            "\nquantbench summary ({}): medians over successful samples",
            dir.path().display()
        );
        print!("{}", summary(&run.summary));
    }
    println!(
        "\nquantbench servers (resident memory of each server's process tree, sampled every {} ms):",
        crate::memory::SAMPLE_INTERVAL.as_millis()
    );
    for g in groups {
        println!("  {}", terminal(&crate::metadata::server_line(g)));
    }
    print!("{}", machine_note(&run));
    if let Some(doc) = &run.comparison {
        println!(
            "\nquantbench verdicts against baseline {:?} (noise threshold {:.0} %, Holm-corrected α = {}):",
            doc.baseline,
            doc.noise_threshold * 100.0,
            doc.alpha
        );
        print!("{}", verdicts(&doc.comparisons));
    }
    if !run.paired.is_empty() {
        println!("\nquantbench paired A/B (ratio B / A of geometric means, paired t-interval on log-ratios):");
        print!("{}", paired(&run.paired));
    }
    println!("quantbench: report {}", dir.page().display());
    Ok(())
}

/// The closing note's lines on the machine: pre-flight warnings, flagged benchmarks and the
/// roofline per group.
fn machine_note(run: &RunData) -> String {
    let mut out = String::new();
    for w in run.info.machine_state.preflight.iter().flat_map(|p| &p.warnings) {
        out.push_str(&format!("quantbench: pre-flight warned: {w}\n"));
    }
    for b in &run.summary.benchmarks {
        for concern in b.machine_state.iter().flat_map(|s| s.concerns()) {
            out.push_str(&format!(
                "quantbench: {}/{}: measured while {concern}\n",
                b.group, b.category
            ));
        }
        if let Some(d) = b.drift.as_ref().filter(|d| d.flagged) {
            out.push_str(&format!(
                "quantbench: {}/{}: the machine's speed changed during the benchmark: {}\n",
                b.group,
                b.category,
                crate::drift::text(d)
            ));
        }
    }
    if let Some(first) = run.summary.roofline.first() {
        out.push_str(&format!(
            "\nquantbench roofline (median decode rate against {}):\n",
            first.bandwidth.source
        ));
        for r in &run.summary.roofline {
            out.push_str(&format!(
                "  {}: {:.1} MB per token → {}\n",
                r.group,
                r.bytes_per_token as f64 / 1e6,
                crate::roofline::percent_text(r)
            ));
        }
    }
    out
}

/// The answer in a few lines (`headline`), the last thing a run prints.
pub fn answer(dir: &RunDir) -> Result<()> {
    print!("{}", super::answer::console(&RunData::load(dir.path())?));
    Ok(())
}

/// A plain-text table: one row per level, then its mix classes.
pub fn load(report: &LoadReport) -> String {
    let fmt =
        |v: Option<f64>, scale: f64, digits: usize| v.map_or("–".into(), |v| format!("{:.*}", digits, v * scale));
    let mut out = String::new();
    for b in &report.benchmarks {
        out.push_str(&format!(
            "{}/{} (steady window: {})\n",
            b.group,
            b.benchmark.name(),
            b.window_definition
        ));
        out.push_str(&format!(
            "  {:<10} {:>8} {:>10} {:>8} {:>6} {:>11} {:>9} {:>9} {:>9} {:>8} {:>6} {:>9}\n",
            "level",
            "ok/req",
            "agg tok/s",
            "speedup",
            "eff",
            "decode p50",
            "TTFT p50",
            "TTFT p95",
            "TTFT p99",
            "E2E p50",
            "Jain",
            "wait p99"
        ));
        for l in &b.levels {
            let name = match (l.level, l.rate_per_s) {
                (Some(n), _) => format!("{n} streams"),
                (None, Some(rate)) => format!("{rate} req/s"),
                _ => "?".into(),
            };
            let q = |p: &Option<QuantileEstimate>| p.as_ref().map(|q| q.point);
            out.push_str(&format!(
                "  {:<10} {:>8} {:>10} {:>8} {:>6} {:>11} {:>9} {:>9} {:>9} {:>8} {:>6} {:>9}\n",
                name,
                format!("{}/{}", l.ok, l.requests),
                fmt(l.aggregate_rate, 1.0, 1),
                fmt(l.speedup, 1.0, 2),
                fmt(l.scaling_efficiency, 1.0, 2),
                fmt(l.decode_rate.median(), 1.0, 1),
                format!("{} ms", fmt(l.ttft_s.median(), 1e3, 0)),
                format!("{} ms", fmt(q(&l.ttft_s.p95), 1e3, 0)),
                format!("{} ms", fmt(q(&l.ttft_s.p99), 1e3, 0)),
                format!("{} s", fmt(l.e2e_s.median(), 1.0, 2)),
                fmt(l.fairness_jain, 1.0, 2),
                format!("{} ms", fmt(q(&l.client_wait_s.p99), 1e3, 1)),
            ));
            for c in &l.classes {
                out.push_str(&format!(
                    "      class max_tokens={:<5} ok {}/{}, produced p50 {} tok, TTFT p50 {} ms, E2E p50 {} s, decode p50 {} tok/s\n",
                    c.max_tokens,
                    c.ok,
                    c.requests,
                    fmt(c.completion_p50, 1.0, 0),
                    fmt(c.ttft_s.median(), 1e3, 0),
                    fmt(c.e2e_s.median(), 1.0, 2),
                    fmt(c.decode_rate.median(), 1.0, 1)
                ));
            }
            for (reason, n) in &l.failures {
                out.push_str(&format!("      {n} failed: {}\n", terminal(reason)));
            }
            if let Some(note) = &l.window_note {
                out.push_str(&format!("      {note}\n"));
            }
        }
    }
    out
}

/// A plain-text table: prefill rate and TTFT against context length.
pub fn prefill(report: &PrefillReport) -> String {
    let fmt = |v: Option<f64>, digits: usize| v.map_or("–".into(), |v| format!("{v:.digits$}"));
    let mut out = format!(
        "{:<16} {:>7} {:>5} {:>7} {:>14} {:>12} {:>14}  {}\n",
        "group", "target", "cache", "ok/req", "prompt tokens", "TTFT p50 s", "prefill tok/s", "cache verified"
    );
    for r in &report.rows {
        out.push_str(&format!(
            "{:<16} {:>7} {:>5} {:>7} {:>14} {:>12} {:>14}  {}/{} ({} cached)\n",
            r.group,
            r.target_tokens,
            crate::util::serde_name(r.cache),
            format!("{}/{}", r.ok, r.requests),
            fmt(r.prompt_tokens_p50, 0),
            fmt(r.ttft_s.map(|q| q.point), 3),
            fmt(r.prefill_rate.map(|q| q.point), 0),
            r.cache_verified,
            r.cache_reported,
            fmt(r.cached_tokens_p50, 0),
        ));
    }
    for s in &report.skipped {
        out.push_str(&format!(
            "{:<16} {:>7} skipped: {}\n",
            s.group,
            s.target_tokens,
            terminal(&s.reason)
        ));
    }
    out
}

/// A plain-text table of a run's fidelity results.
pub fn fidelity(report: &FidelityReport) -> String {
    let mut out = format!(
        "{:<26} {:<22} {:>8} {:>16} {:>10} {:>24} {:>26}\n",
        "group", "reference", "prompts", "greedy match", "1st div.", "top-1 agreement [95 % CI]", "KL, nats [95 % CI]"
    );
    for g in &report.groups {
        let reference = if g.reference == g.group {
            "(itself: noise floor)".to_owned()
        } else {
            g.reference.clone()
        };
        match (&g.summary, &g.unavailable) {
            (Some(s), _) => out.push_str(&format!(
                "{:<26} {:<22} {:>8} {:>16} {:>10.1} {:>24} {:>26}\n",
                g.group,
                reference,
                s.prompts,
                format!("{}/{}", s.greedy_matches, s.prompts),
                s.mean_first_divergence,
                crate::fidelity::estimate_text(&s.top1_agreement, 3),
                crate::fidelity::estimate_text(&s.kl, 4),
            )),
            (None, reason) => out.push_str(&format!(
                "{:<26} {:<22} not measured: {}\n",
                g.group,
                reference,
                terminal(reason.as_deref().unwrap_or("no prompt could be measured"))
            )),
        }
    }
    out
}

/// A plain-text table of medians per benchmark, with count sources, flags and early stops.
pub fn summary(summary: &Summary) -> String {
    let mut out = format!(
        "{:<34} {:>9} {:>13} {:>10} {:>9}  counts\n",
        "benchmark", "ok/runs", "decode tok/s", "TTFT ms", "E2E s"
    );
    for b in &summary.benchmarks {
        let median = |name: &str| b.metrics.get(name).and_then(|m| m.median.as_ref()).map(|q| q.point);
        let fmt =
            |v: Option<f64>, scale: f64, digits: usize| v.map_or("–".into(), |v| format!("{:.*}", digits, v * scale));
        let mut notes: Vec<String> = b
            .completion_sources
            .iter()
            .chain(&b.flags)
            .map(|(k, v)| format!("{k}×{v}"))
            .collect();
        match &b.abandoned {
            Some(_) if b.stopped_with_group => notes.push("NOT RUN: see the group's note below".into()),
            Some(reason) => notes.push(format!("STOPPED: {}", terminal(reason))),
            None => {}
        }
        out.push_str(&format!(
            "{:<34} {:>9} {:>13} {:>10} {:>9}  {}\n",
            terminal(&format!("{}/{}", b.group, b.category)),
            format!("{}/{}", b.ok, b.attempted),
            fmt(median("decode_rate"), 1.0, 1),
            fmt(median("ttft_s"), 1e3, 1),
            fmt(median("e2e_s"), 1.0, 2),
            notes.join(" ")
        ));
    }
    for stop in &summary.group_stops {
        out.push_str(&format!("NOTE {}\n", terminal(&stop.text())));
    }
    out
}

/// A plain-text verdict table, regressions first.
pub fn verdicts(rows: &[Comparison]) -> String {
    let mut out = format!(
        "{:<13} {:<34} {:<12} {:>30} {:>8} {:>8} {:>7} {:>7} {:>6}\n",
        "verdict", "benchmark", "metric", "change [95 % CI]", "Holm p", "MW p", "δ", "n", "runs"
    );
    for r in rows {
        out.push_str(&format!(
            "{:<13} {:<34} {:<12} {:>30} {:>8.4} {:>8} {:>7} {:>7} {:>6}\n",
            crate::util::serde_name(r.verdict),
            terminal(&format!("{}/{}", r.group, r.category)),
            r.metric,
            r.change_text(),
            r.holm_p,
            r.mann_whitney_p.map_or("–".into(), |p| format!("{p:.4}")),
            r.cliffs_delta.map_or("–".into(), |d| format!("{d:+.2}")),
            format!("{}/{}", r.n_baseline, r.n_candidate),
            format!("{}/{}", r.baseline_runs, r.candidate_runs),
        ));
    }
    if rows.iter().any(|r| r.method == crate::compare::Method::WithinRun) {
        out.push_str(
            "note: with one baseline run the intervals cover sample noise within runs, not drift between runs; \
             save more runs under the same baseline name (repeat --save-baseline) to include it.\n",
        );
    }
    out
}

/// A plain-text table of paired results.
pub fn paired(rows: &[PairedComparison]) -> String {
    let mut out = format!(
        "{:<28} {:<14} {:<18} {:>26} {:>8} {:>10} {:>6}\n",
        "paired (B / A)", "category", "metric", "ratio [95 % CI]", "t p", "Wilcoxon p", "pairs"
    );
    for r in rows {
        out.push_str(&format!(
            "{:<28} {:<14} {:<18} {:>26} {:>8.4} {:>10} {:>6}\n",
            format!("{} / {}", r.b, r.a),
            r.category,
            r.turn
                .map_or(r.metric.clone(), |k| format!("{} turn {}", r.metric, k + 1)),
            format!("{:.3} [{:.3}, {:.3}]", r.ratio, r.interval.lower, r.interval.upper),
            r.t_p,
            r.wilcoxon_p.map_or("–".into(), |p| format!("{p:.4}")),
            r.n_pairs
        ));
    }
    out
}

/// The width of a column holding `ids`: the longest, at least `min` characters.
fn column_width<'a>(ids: impl Iterator<Item = &'a str>, min: usize) -> usize {
    ids.map(|id| id.chars().count()).max().unwrap_or(0).max(min)
}

/// Plain-text tables for the terminal: per session, then per depth.
pub fn sessions(report: &SessionReport) -> String {
    let opt = |v: Option<f64>, digits: usize| v.map_or("–".into(), |v| format!("{v:.digits$}"));
    // Columns as wide as the longest group and session id (ids such as
    // `refactor-multi-file-small-en` are longer than a fixed width).
    let gw = column_width(report.sessions.iter().map(|s| s.group.as_str()), 16);
    let sw = column_width(report.sessions.iter().map(|s| s.session.as_str()), 24);
    let mut out = format!(
        "{:<gw$} {:<sw$} {:>5} {:>7} {:>6} {:>26} {:>22} {:>8} {:>8} {:>10}\n",
        "group",
        "session",
        "cache",
        "repeats",
        "turns",
        "effective tok/s [95 %]",
        "Σ E2E s [95 %]",
        "prefill",
        "context",
        "cache eff."
    );
    for s in &report.sessions {
        out.push_str(&format!(
            "{:<gw$} {:<sw$} {:>5} {:>7} {:>6} {:>26} {:>22} {:>8} {:>8} {:>10}\n",
            s.group,
            s.session,
            if s.prefix_cache { "on" } else { "off" },
            format!("{}/{}", s.complete, s.repeats),
            s.turns,
            estimate_text(s.effective_tok_s.as_ref(), 1.0, 1),
            estimate_text(s.wall_s.as_ref(), 1.0, 2),
            s.prefill_share
                .map_or("–".into(), |e| format!("{:.0} %", e.point * 100.0)),
            opt(s.final_context, 0),
            s.cache_efficiency
                .map_or("not reported".into(), |e| format!("{:.3}", e)),
        ));
    }
    if !report.depths.is_empty() {
        out.push_str(&format!(
            "\n{:<16} {:>7} {:>7} {:>9} {:>9} {:>24} {:>24}\n",
            "group", "depth", "ok/req", "prompt", "cached", "TTFT ms [95 %]", "decode tok/s [95 %]"
        ));
        for d in &report.depths {
            out.push_str(&format!(
                "{:<16} {:>7} {:>7} {:>9} {:>9} {:>24} {:>24}\n",
                d.group,
                d.depth,
                format!("{}/{}", d.ok, d.requests),
                opt(d.prompt_tokens, 0),
                d.cached_tokens.map_or("not reported".into(), |c| format!("{c:.0}")),
                estimate_text(d.ttft_s.as_ref(), 1e3, 1),
                estimate_text(d.decode_rate.as_ref(), 1.0, 1),
            ));
        }
    }
    if !report.paired_ab.is_empty() {
        out.push('\n');
        out.push_str(&paired(&report.paired_ab));
    }
    for c in &report.cuts {
        let at = c.turn.map_or(String::new(), |t| format!(" before turn {}", t + 1));
        out.push_str(&format!("{} {} {}{at}: {}\n", c.group, c.workload, c.what, c.reason));
    }
    out
}
