//! `target-reports/index.html`: every run so far, newest first, and per group the trend of
//! decode rate and TTFT across runs — the "did the upgrade hurt" view. Built from each run's
//! `metadata.json` and `summary.json` only, so it stays fast with many large runs.

use super::charts::{self, Axes, Point, Series};
use super::markup::{escape, head};
use super::{Shown, DECODE, TTFT};
use crate::metadata::RecordedMetadata;
use crate::store::RunDir;
use crate::summary::Summary;
use anyhow::{Context, Result};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// One run directory as the history sees it.
struct RunEntry {
    id: String,
    metadata: RecordedMetadata,
    /// The summary, or why it could not be read.
    summary: Result<Summary, String>,
    has_page: bool,
}

impl RunEntry {
    /// The start time, or the run id (which begins with it) when there is no metadata.
    fn started(&self) -> &str {
        self.metadata.started_at.as_deref().unwrap_or(&self.id)
    }
}

/// Run directories under `root` (everything with a `generations.jsonl`; baselines excluded),
/// oldest first.
fn runs(root: &Path) -> Result<Vec<RunEntry>> {
    let mut entries = Vec::new();
    let dir = std::fs::read_dir(root).with_context(|| format!("listing {}", root.display()))?;
    for entry in dir {
        let path = entry.with_context(|| format!("listing {}", root.display()))?.path();
        let run = RunDir::new(&path);
        if !run.has_records() {
            continue;
        }
        let read = |file: PathBuf| {
            std::fs::read_to_string(&file)
                .map_err(|e| format!("{}: {e}", file.file_name().unwrap_or_default().to_string_lossy()))
        };
        // A run whose metadata cannot be read is still listed, by its id.
        let metadata = read(run.metadata())
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        let summary = read(run.summary())
            .and_then(|t| serde_json::from_str::<Summary>(&t).map_err(|e| format!("summary.json: {e}")));
        let id = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        entries.push(RunEntry {
            id,
            metadata,
            summary,
            has_page: run.page().is_file(),
        });
    }
    // Run ids start with their UTC start time; metadata's start time orders renamed directories.
    entries.sort_by(|a, b| a.started().cmp(b.started()).then_with(|| a.id.cmp(&b.id)));
    Ok(entries)
}

/// Writes `root/index.html` atomically and returns its path.
pub fn write(root: &Path) -> Result<PathBuf> {
    let path = root.join("index.html");
    let page = render(&runs(root)?)?;
    crate::util::write_atomic(&path, page.as_bytes())?;
    Ok(path)
}

fn render(runs: &[RunEntry]) -> Result<String> {
    let mut page = head("quantbench runs");
    writeln!(page, "<h1>quantbench runs ({})</h1>", runs.len())?;
    page.push_str("<table><tr><th>run</th><th>started</th><th>status</th><th>filter</th><th>git</th><th>benchmarks</th><th>samples ok / attempted</th></tr>\n");
    for run in runs.iter().rev() {
        let link = if run.has_page {
            format!("<a href=\"{0}/index.html\">{0}</a>", escape(&run.id))
        } else {
            escape(&run.id)
        };
        let m = &run.metadata;
        let text = |value: &Option<String>| value.as_deref().unwrap_or("–").to_owned();
        let git = m.git.as_ref().map_or("–".to_owned(), |g| g.revision.clone());
        let dirty = m.git.as_ref().is_some_and(|g| g.dirty);
        let (benchmarks, samples) = match (&run.summary, &m.counts) {
            // Planned benchmarks, and attempts including the planned samples of those that did not run.
            (_, Some(c)) => (
                c.benchmarks_planned.to_string(),
                format!("{} / {}", c.samples_ok, c.samples_attempted),
            ),
            (Ok(s), None) => (
                s.benchmarks.len().to_string(),
                format!(
                    "{} / {}",
                    s.benchmarks.iter().map(|b| b.ok).sum::<u32>(),
                    s.benchmarks.iter().map(|b| b.attempted).sum::<u32>()
                ),
            ),
            (Err(e), None) => ("–".into(), format!("no summary ({e})")),
        };
        writeln!(
            page,
            "<tr><td>{link}</td><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            escape(&text(&m.started_at)),
            escape(&m.status_text()),
            escape(&text(&m.filter)),
            escape(&git[..git.len().min(12)]),
            if dirty { " (dirty)" } else { "" },
            benchmarks,
            escape(&samples)
        )?;
    }
    page.push_str("</table>\n");
    trends(&mut page, runs)?;
    page.push_str("</body></html>\n");
    Ok(page)
}

/// Per group, decode rate and TTFT per category across the runs that measured the group.
fn trends(page: &mut String, runs: &[RunEntry]) -> Result<()> {
    let summaries: Vec<(&RunEntry, &Summary)> = runs
        .iter()
        .filter_map(|r| r.summary.as_ref().ok().map(|s| (r, s)))
        .collect();
    let groups = super::distinct(
        summaries
            .iter()
            .flat_map(|(_, s)| s.benchmarks.iter().map(|b| b.group.as_str())),
    );
    if groups.is_empty() {
        return Ok(());
    }
    page.push_str("<h2>Trends across runs</h2>\n<p class=\"small\">Each point is one run's mean with its 95 % interval (which covers noise within that run, not drift between runs: compare with a multi-run baseline before calling a change).</p>\n");
    for group in groups {
        let runs_of_group: Vec<&(&RunEntry, &Summary)> = summaries
            .iter()
            .filter(|(_, s)| s.benchmarks.iter().any(|b| b.group == group))
            .collect();
        let steps: Vec<String> = runs_of_group
            .iter()
            .map(|(r, _)| r.started().get(..16).unwrap_or(&r.id).replace('T', " "))
            .collect();
        let categories = super::distinct(runs_of_group.iter().flat_map(|(_, s)| {
            s.benchmarks
                .iter()
                .filter(|b| b.group == group)
                .map(|b| b.category.as_str())
        }));
        writeln!(page, "<h3>{}</h3>", escape(group))?;
        for shown in [&DECODE, &TTFT] {
            let series: Vec<Series<Vec<Option<Point>>>> = categories
                .iter()
                .enumerate()
                .map(|(i, c)| Series {
                    name: c.to_string(),
                    colour: charts::colour(i),
                    values: runs_of_group
                        .iter()
                        .map(|(_, s)| mean_point(s, group, c, shown))
                        .collect(),
                })
                .collect();
            let title = format!("{group}: {} per run (mean, 95 % interval)", shown.label);
            let y = format!("{}, {}", shown.label, shown.unit);
            page.push_str(&charts::trend(
                &Axes {
                    title: &title,
                    x: "run (UTC start)",
                    y: &y,
                },
                &steps,
                &series,
            )?);
        }
    }
    Ok(())
}

fn mean_point(summary: &Summary, group: &str, category: &str, shown: &Shown) -> Option<Point> {
    summary
        .benchmarks
        .iter()
        .find(|b| b.group == group && b.category == category)
        .and_then(|b| super::mean_point(b, shown))
}
