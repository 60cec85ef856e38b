//! `summary.md`: the run's results as Markdown for pasting into issues and notes — the machine
//! and servers, the answer, then one table per question (speed, latency, quality, which quant,
//! verdicts), each of at most 8 columns, every column saying whether it is a mean or a median.

use super::sanitize::markdown as cell;
use super::{Exporter, RunData, DECODE, E2E, TTFT};
use anyhow::Result;
use std::fmt::Write;

pub struct Markdown;

impl Exporter for Markdown {
    fn file_name(&self) -> &'static str {
        "summary.md"
    }

    fn render(&self, run: &RunData) -> Result<String> {
        let mut md = format!("# quantbench run {}\n\n", cell(&run.run));
        let status = run.info.status_text();
        let git = run
            .info
            .git
            .as_ref()
            .map_or("–", |g| &g.revision[..g.revision.len().min(12)]);
        writeln!(
            md,
            "Status: {} · git {} · intervals are 95 %.  ",
            cell(&status),
            cell(git)
        )?;
        writeln!(md, "Machine: {}  ", cell(&machine(run)))?;
        for line in servers(run) {
            writeln!(md, "Server: {}  ", cell(&line))?;
        }
        md.push('\n');
        md.push_str(&super::answer::markdown(run));
        md.push_str("## Speed: which is fastest?\n\n");
        md.push_str("| Model | Quant | Backend | Size | Category | Decode tok/s, median [95 % CI] | Decode tok/s, mean [95 % CI] | Completed |\n");
        md.push_str("|---|---|---|---|---|---|---|---|\n");
        for b in &run.summary.benchmarks {
            let (model, quant) = b.group.split_once('/').unwrap_or((&b.group, ""));
            let size = run
                .model_bytes(&b.group)
                .map_or("–".into(), |bytes| format!("{:.2} GB", bytes as f64 / 1e9));
            let backend = cell(run.info.backend(&b.group).unwrap_or("–"));
            let (decode_median, decode_mean) = (super::median_text(b, &DECODE), super::mean_text(b, &DECODE));
            writeln!(
                md,
                "| {} | {} | {backend} | {size} | {} | {decode_median} | {decode_mean} | {}/{} |",
                cell(model),
                cell(quant),
                cell(&b.category),
                b.ok,
                b.attempted
            )?;
        }
        md.push_str("\n## Latency: how long until the answer?\n\n");
        md.push_str("| Group | Category | TTFT ms, median [95 % CI] | E2E s, median [95 % CI] | Token counts from | Notes |\n|---|---|---|---|---|---|\n");
        for b in &run.summary.benchmarks {
            let sources: Vec<String> = b.completion_sources.iter().map(|(k, v)| format!("{k} ×{v}")).collect();
            let notes: Vec<String> = super::provenance_notes(b).into_iter().map(|(_, n)| n).collect();
            let (ttft, e2e) = (super::median_text(b, &TTFT), super::median_text(b, &E2E));
            writeln!(
                md,
                "| {} | {} | {ttft} | {e2e} | {} | {} |",
                cell(&b.group),
                cell(&b.category),
                cell(&sources.join(", ")),
                cell(&notes.join("; "))
            )?;
        }
        if run.summary.benchmarks.iter().any(|b| b.quality.is_some()) {
            md.push_str("\n## Quality: are the answers right?\n\n| Group | Category | Answers correct (checked prompts) | Completed generations |\n|---|---|---|---|\n");
            for b in run.summary.benchmarks.iter().filter(|b| b.quality.is_some()) {
                let correct = super::quality_text(b).unwrap_or_else(|| "–".into());
                writeln!(
                    md,
                    "| {} | {} | {} | {}/{} |",
                    cell(&b.group),
                    cell(&b.category),
                    cell(&correct),
                    b.ok,
                    b.attempted
                )?;
            }
        }
        if !run.summary.group_stops.is_empty() {
            md.push_str("\n## Groups stopped\n\n");
            for stop in &run.summary.group_stops {
                writeln!(md, "- {}", cell(&stop.text()))?;
            }
        }
        if let Some(rows) = super::quant::rows(run) {
            md.push_str("\n## Which quant? Speed and memory\n\n");
            md.push_str("| Group | Size | Decode tok/s, median [95 % CI] | Of roofline | TTFT ms, median [95 % CI] | RSS peak |\n|---|---|---|---|---|---|\n");
            let name = |r: &super::quant::QuantRow<'_>| {
                if r.is_reference() {
                    format!("{} (reference)", r.group)
                } else {
                    r.group.to_owned()
                }
            };
            for r in &rows {
                let size = r
                    .model_bytes
                    .map_or("–".into(), |b| format!("{:.2} GB", b as f64 / 1e9));
                let (decode, ttft) = (
                    super::quantile_text(r.decode.as_ref(), 1.0),
                    super::quantile_text(r.ttft.as_ref(), 1e3),
                );
                let peak = r
                    .peak_rss_bytes
                    .map_or("–".into(), |b| format!("{} GB", super::num(b / 1e9)));
                writeln!(
                    md,
                    "| {} | {size} | {decode} | {} | {ttft} | {peak} |",
                    cell(&name(r)),
                    r.roofline_text()
                )?;
            }
            md.push_str("\n## Which quant? Quality\n\n");
            md.push_str("| Group | Answers correct | Greedy match | First divergence | Top-1 agreement | KL, nats |\n|---|---|---|---|---|---|\n");
            for r in &rows {
                let [greedy, divergence, top1, kl] = r
                    .fidelity_texts()
                    .unwrap_or_else(|why| [why, "–".into(), "–".into(), "–".into()]);
                writeln!(
                    md,
                    "| {} | {} | {} | {divergence} | {top1} | {kl} |",
                    cell(&name(r)),
                    r.checked_text(),
                    cell(&greedy)
                )?;
            }
            writeln!(md, "\n{}", super::quant::NOTE)?;
        }
        if let Some(first) = run.summary.roofline.first() {
            writeln!(md, "\n## Roofline (decode against {})\n", cell(&first.bandwidth.source))?;
            md.push_str(
                "| Group | MB per token | Bound tok/s | Decode tok/s, median | Of the bound |\n|---|---|---|---|---|\n",
            );
            for r in &run.summary.roofline {
                let decode = super::quantile_text(Some(&r.decode), 1.0);
                writeln!(
                    md,
                    "| {} | {:.1} | {:.0} | {decode} | {} |",
                    cell(&r.group),
                    r.bytes_per_token as f64 / 1e6,
                    r.bound_tok_s,
                    crate::roofline::percent_text(r)
                )?;
            }
        }
        super::session::markdown(&mut md, run)?;
        if let Some(doc) = &run.comparison {
            writeln!(
                md,
                "\n## Against baseline \"{}\" (noise threshold {:.0} %, Holm-corrected α = {})\n",
                cell(&doc.baseline),
                doc.noise_threshold * 100.0,
                doc.alpha
            )?;
            md.push_str("| Verdict | Benchmark | Metric | Baseline → this run | Change [95 % CI] | Holm p |\n|---|---|---|---|---|---|\n");
            for c in &doc.comparisons {
                let values = crate::headline::values(c).unwrap_or_else(|| "–".into());
                let benchmark = cell(&format!("{}/{}", c.group, c.category));
                writeln!(
                    md,
                    "| {} | {benchmark} | {} | {values} | {} | {:.4} |",
                    crate::util::serde_name(c.verdict),
                    c.metric,
                    c.change_text(),
                    c.holm_p
                )?;
            }
        }
        Ok(md)
    }
}

/// "Linux 6.1 (x86_64) · CPU Intel Xeon (2 cores) · 24 GB memory", from what the run recorded.
fn machine(run: &RunData) -> String {
    let m = &run.info.machine;
    let mut parts = Vec::new();
    let os = [m.os.as_deref(), m.os_version.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    if !os.is_empty() {
        parts.push(m.arch.as_ref().map_or(os.clone(), |arch| format!("{os} ({arch})")));
    }
    if let Some(cpu) = m.chip.as_deref().or(m.cpu_model.as_deref()) {
        parts.push(
            m.logical_cores
                .map_or(format!("CPU {cpu}"), |n| format!("CPU {cpu} ({n} threads)")),
        );
    }
    if let Some(bytes) = m.memory_bytes {
        parts.push(format!("{:.0} GB memory", bytes as f64 / 1e9));
    }
    if parts.is_empty() {
        "not recorded".into()
    } else {
        parts.join(" · ")
    }
}

/// One line per group that ran: the server's backend and version as it described them.
fn servers(run: &RunData) -> Vec<String> {
    run.info
        .groups
        .iter()
        .map(|g| {
            let d = g.server_description.as_ref();
            let said: Vec<&str> = d
                .into_iter()
                .flat_map(|d| [d.backend.as_deref(), d.backend_version.as_deref()])
                .flatten()
                .collect();
            let kind = run.info.backend(&g.name).unwrap_or("–");
            if said.is_empty() {
                format!("{}: {kind} (no version reported)", g.name)
            } else {
                format!("{}: {kind}, {}", g.name, said.join(" "))
            }
        })
        .collect()
}
