//! `summary.md`: the run's results as Markdown tables, in the spirit of the seeds' results file
//! (model, quant, backend, size, mean speed with its interval, TTFT, pass rate), for pasting
//! into issues and notes.

use super::markup::cell;
use super::{Exporter, RunData, DECODE, E2E, TTFT};
use anyhow::Result;
use std::fmt::Write;

pub struct Markdown;

impl Exporter for Markdown {
    fn file_name(&self) -> &'static str {
        "summary.md"
    }

    fn render(&self, run: &RunData) -> Result<String> {
        let mut md = format!("# quantbench run {}\n\n", run.run);
        let status = run.info.status_text();
        let git = run
            .info
            .git
            .as_ref()
            .map_or("–", |g| &g.revision[..g.revision.len().min(12)]);
        let cpu = run.info.machine.cpu_model.as_deref().unwrap_or("–");
        writeln!(md, "Status: {status} · git {git} · CPU {cpu} · intervals are 95 %.\n")?;
        md.push_str("| Model | Quant | Backend | Size | Category | Decode tok/s, mean [95 % CI] | TTFT ms, median [95 % CI] | E2E s, median | Pass rate | Answers checked | Counts | Notes |\n");
        md.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        for b in &run.summary.benchmarks {
            let (model, quant) = b.group.split_once('/').unwrap_or((&b.group, ""));
            let size = run
                .model_bytes(&b.group)
                .map_or("–".into(), |bytes| format!("{:.2} GB", bytes as f64 / 1e9));
            let sources: Vec<String> = b.completion_sources.iter().map(|(k, v)| format!("{k} ×{v}")).collect();
            let notes: Vec<String> = super::provenance_notes(b).into_iter().map(|(_, n)| n).collect();
            writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {}/{} | {} | {} | {} |",
                cell(model),
                cell(quant),
                cell(run.info.backend(&b.group).unwrap_or("–")),
                size,
                cell(&b.category),
                super::mean_text(b, &DECODE),
                super::median_text(b, &TTFT),
                super::median_text(b, &E2E),
                b.ok,
                b.attempted,
                super::quality_text(b).unwrap_or_else(|| "–".into()),
                cell(&sources.join(", ")),
                cell(&notes.join("; ")),
            )?;
        }
        if !run.summary.group_stops.is_empty() {
            md.push_str("\n## Groups stopped\n\n");
            for stop in &run.summary.group_stops {
                writeln!(md, "- {}", cell(&stop.text()))?;
            }
        }
        if let Some(rows) = super::quant::rows(run) {
            md.push_str("\n## Which quant? Speed, memory and quality side by side\n\n");
            md.push_str("| Group | Size | Decode tok/s, median [95 % CI] | Of roofline | TTFT ms, median | RSS peak | Checked answers | Greedy match | First divergence | Top-1 agreement | KL, nats |\n");
            md.push_str("|---|---|---|---|---|---|---|---|---|---|---|\n");
            for r in &rows {
                let [greedy, divergence, top1, kl] = r
                    .fidelity_texts()
                    .unwrap_or_else(|why| [why, "–".into(), "–".into(), "–".into()]);
                let name = if r.is_reference() {
                    format!("{} (reference)", r.group)
                } else {
                    r.group.to_owned()
                };
                writeln!(
                    md,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    cell(&name),
                    r.model_bytes
                        .map_or("–".into(), |b| format!("{:.2} GB", b as f64 / 1e9)),
                    super::quantile_text(r.decode.as_ref(), 1.0),
                    r.roofline_text(),
                    super::quantile_text(r.ttft.as_ref(), 1e3),
                    r.peak_rss_bytes
                        .map_or("–".into(), |b| format!("{} GB", super::num(b / 1e9))),
                    r.checked_text(),
                    cell(&greedy),
                    divergence,
                    top1,
                    kl
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
                doc.baseline,
                doc.noise_threshold * 100.0,
                doc.alpha
            )?;
            md.push_str("| Verdict | Benchmark | Metric | Change [95 % CI] | Holm p |\n|---|---|---|---|---|\n");
            for c in &doc.comparisons {
                writeln!(
                    md,
                    "| {} | {} | {} | {} | {:.4} |",
                    crate::util::serde_name(c.verdict),
                    cell(&format!("{}/{}", c.group, c.category)),
                    c.metric,
                    c.change_text(),
                    c.holm_p
                )?;
            }
        }
        Ok(md)
    }
}
