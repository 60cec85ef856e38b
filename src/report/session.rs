//! The "Agent sessions" section of the run page and of `summary.md`, from `sessions.json`:
//! effective tok/s per group (the headline for agent users), TTFT and decode per turn against
//! context length, the cache table (ideal vs reported cached tokens, mismatches highlighted),
//! the cache-off pairs, the paired sessions (quant A against B) and the depth chart.

use super::charts::{self, Axes, Point, Series};
use super::markup::{escape, table, td, td_num};
use super::RunData;
use crate::paired::PairedComparison;
use crate::prompts::session::Mode;
use crate::session::analysis::{estimate_text, SessionReport, TurnRow};
use crate::stats::Estimate;
use anyhow::Result;
use std::fmt::Write;

fn point(e: Option<&Estimate>, scale: f64) -> Option<Point> {
    e.map(|e| {
        let (lower, upper) = e.interval.map_or((e.point, e.point), |i| (i.lower, i.upper));
        Point {
            value: e.point * scale,
            lower: lower * scale,
            upper: upper * scale,
        }
    })
}

fn opt(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.0}"))
}

fn cached_text(t: &TurnRow) -> String {
    t.cached_tokens.map_or("not reported".into(), |c| format!("{c:.0}"))
}

fn ideal_text(t: &TurnRow) -> String {
    let source = match t.ideal_source {
        Some(crate::record::IdealSource::Estimated) => " (estimated)",
        _ => "",
    };
    t.ideal_reusable.map_or("–".into(), |i| format!("{i:.0}{source}"))
}

fn efficiency_text(e: Option<f64>) -> String {
    e.map_or("not reported".into(), |e| format!("{:.1} %", e * 100.0))
}

/// The turns of one session and cache state, by group.
fn turns<'a>(report: &'a SessionReport, session: &str, group: &str) -> Vec<&'a TurnRow> {
    report
        .turns
        .iter()
        .filter(|t| t.session == session && t.group == group && t.prefix_cache)
        .collect()
}

pub fn html(page: &mut String, run: &RunData) -> Result<()> {
    let Some(report) = &run.sessions else { return Ok(()) };
    page.push_str("<h2>Agent sessions</h2>\n<p class=\"small\">Recorded agent sessions replayed turn by turn with the prefix cache on. Effective tok/s is famstack's definition: Σ output tokens / Σ (TTFT + generation time) over a session's turns; geometric means with 95 % t-intervals on the logs over the repeats. Cached tokens are what the server reported; the ideal is the prefix the turn's prompt shares with the previous request, from the server's tokenizer unless marked estimated.</p>\n");
    if report.sessions.iter().any(|s| s.mode == Mode::Live) {
        page.push_str("<p class=\"small\">Live mode: each group's own answers were appended, so contexts differ between groups after turn 1.</p>\n");
    }
    if report.sessions.is_empty() {
        return pairs_depth_and_cuts_html(page, report);
    }
    let rows: Vec<Vec<String>> = report
        .sessions
        .iter()
        .map(|s| {
            vec![
                td(&s.group),
                td(&s.session),
                td(if s.prefix_cache { "on" } else { "off" }),
                td_num(&format!("{}/{}", s.complete, s.repeats)),
                td_num(&s.turns.to_string()),
                td_num(&estimate_text(s.effective_tok_s.as_ref(), 1.0, 2)),
                td_num(&estimate_text(s.wall_s.as_ref(), 1.0, 2)),
                td_num(
                    &s.prefill_share
                        .map_or("–".into(), |e| format!("{:.0} %", e.point * 100.0)),
                ),
                td_num(&opt(s.final_context)),
                td_num(&efficiency_text(s.cache_efficiency)),
            ]
        })
        .collect();
    table(
        page,
        &[
            "group",
            "session",
            "cache",
            "complete repeats",
            "turns",
            "effective tok/s [95 %]",
            "Σ E2E s [95 %]",
            "time in prefill",
            "final context",
            "cache efficiency",
        ],
        &rows,
    );
    let sessions = super::distinct(report.sessions.iter().map(|s| s.session.as_str()));
    for session in &sessions {
        let groups = super::distinct(
            report
                .turns
                .iter()
                .filter(|t| t.session == *session && t.prefix_cache)
                .map(|t| t.group.as_str()),
        );
        let Some(first) = groups.first() else { continue };
        let steps: Vec<String> = turns(report, session, first)
            .iter()
            .map(|t| format!("{} ({} tok)", t.turn + 1, opt(t.prompt_tokens)))
            .collect();
        let series = |scale: f64, get: &dyn Fn(&TurnRow) -> Option<&Estimate>| -> Vec<Series<Vec<Option<Point>>>> {
            groups
                .iter()
                .enumerate()
                .map(|(i, g)| Series {
                    name: (*g).to_owned(),
                    colour: charts::colour(i),
                    values: turns(report, session, g).iter().map(|t| point(get(t), scale)).collect(),
                })
                .collect()
        };
        let title = format!("{session}: TTFT per turn against context (mean, 95 % interval)");
        page.push_str(&charts::trend(
            &Axes {
                title: &title,
                x: "turn (prompt tokens)",
                y: "TTFT, ms",
            },
            &steps,
            &series(1e3, &|t| t.ttft_s.as_ref()),
        )?);
        let title = format!("{session}: decode rate per turn (mean, 95 % interval)");
        page.push_str(&charts::trend(
            &Axes {
                title: &title,
                x: "turn (prompt tokens)",
                y: "decode, tok/s",
            },
            &steps,
            &series(1.0, &|t| t.decode_rate.as_ref()),
        )?);
    }
    page.push_str("<h3>Prefix cache per turn</h3>\n<p class=\"small\">Highlighted: reported cached tokens differ from the ideal by more than 4 tokens.</p>\n");
    page.push_str("<table><tr>");
    for h in [
        "group",
        "session",
        "cache",
        "turn",
        "ok",
        "prompt tokens",
        "ideal reusable",
        "reported cached",
        "TTFT ms [95 %]",
        "prefill tok/s",
        "decode tok/s",
        "first tool call ms",
    ] {
        write!(page, "<th>{}</th>", escape(h))?;
    }
    page.push_str("</tr>\n");
    for t in &report.turns {
        let style = if t.cache_mismatch {
            " style=\"background:#fde7b0\""
        } else {
            ""
        };
        write!(page, "<tr{style}>")?;
        for cell in [
            td(&t.group),
            td(&t.session),
            td(if t.prefix_cache { "on" } else { "off" }),
            td_num(&(t.turn + 1).to_string()),
            td_num(&format!("{}/{}", t.ok, t.requests)),
            td_num(&opt(t.prompt_tokens)),
            td_num(&ideal_text(t)),
            td_num(&cached_text(t)),
            td_num(&estimate_text(t.ttft_s.as_ref(), 1e3, 1)),
            td_num(&estimate_text(t.prefill_rate.as_ref(), 1.0, 0)),
            td_num(&estimate_text(t.decode_rate.as_ref(), 1.0, 1)),
            td_num(&estimate_text(t.first_tool_call_s.as_ref(), 1e3, 1)),
        ] {
            page.push_str(&cell);
        }
        page.push_str("</tr>\n");
    }
    page.push_str("</table>\n");
    if !report.paired.is_empty() {
        page.push_str("<h3>Prefix cache off against on</h3>\n<p class=\"small\">TTFT with the cache off / on, same turn and repeat; geometric mean ratio with a paired 95 % t-interval.</p>\n");
        let rows: Vec<Vec<String>> = report
            .paired
            .iter()
            .map(|p| {
                let ratio = p.ttft_off_over_on.map_or("–".into(), |r| {
                    format!("{:.2} [{:.2}, {:.2}]", r.ratio, r.interval.lower, r.interval.upper)
                });
                vec![
                    td(&p.group),
                    td(&p.session),
                    td_num(&(p.turn + 1).to_string()),
                    td_num(&p.pairs.to_string()),
                    td_num(&ratio),
                ]
            })
            .collect();
        table(
            page,
            &["group", "session", "turn", "pairs", "TTFT off / on [95 %]"],
            &rows,
        );
    }
    pairs_depth_and_cuts_html(page, report)
}

/// The paired sessions, the depth chart and what was cut.
fn pairs_depth_and_cuts_html(page: &mut String, report: &SessionReport) -> Result<()> {
    pairs_html(page, &report.paired_ab)?;
    depth_html(page, report)?;
    for c in &report.cuts {
        let at = c.turn.map_or(String::new(), |t| format!(" before turn {}", t + 1));
        writeln!(
            page,
            "<p class=\"small\">{} {} {}{}: {}</p>",
            escape(&c.group),
            escape(&c.workload),
            escape(&c.what),
            escape(&at),
            escape(&c.reason)
        )?;
    }
    Ok(())
}

/// A paired session's metric as the tables show it: `effective tok/s`, `Σ E2E s`, `TTFT turn k`.
fn pair_metric(p: &PairedComparison) -> String {
    match (p.metric.as_str(), p.turn) {
        ("effective_tok_s", _) => "effective tok/s".into(),
        ("wall_s", _) => "Σ E2E s".into(),
        ("ttft_s", Some(k)) => format!("TTFT turn {}", k + 1),
        (other, _) => other.into(),
    }
}

/// The cells of a paired session's row: pair, A, B, session, metric, pairs, ratio, t p, Wilcoxon p.
fn pair_cells(p: &PairedComparison) -> [String; 9] {
    let session = p.category.strip_prefix("session/").unwrap_or(&p.category);
    [
        p.name.clone(),
        p.a.clone(),
        p.b.clone(),
        session.to_owned(),
        pair_metric(p),
        p.n_pairs.to_string(),
        format!("{:.3} [{:.3}, {:.3}]", p.ratio, p.interval.lower, p.interval.upper),
        format!("{:.3}", p.t_p),
        p.wilcoxon_p.map_or("–".into(), |w| format!("{w:.3}")),
    ]
}

const PAIR_HEADERS: [&str; 9] = [
    "pair",
    "A",
    "B",
    "session",
    "metric",
    "pairs",
    "B / A [95 %]",
    "t p",
    "Wilcoxon p",
];

const PAIR_NOTE: &str = "Sides A and B replay byte-identical contexts, a whole pass at a time, interleaved A B, B A, …; ratio B / A of geometric means with a paired 95 % t-interval on the log-ratios. Session figures count the pairs whose two passes both ran in full; TTFT per turn the pairs where both measured it.";

fn pairs_html(page: &mut String, rows: &[PairedComparison]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    writeln!(
        page,
        "<h3>Paired sessions: B against A</h3>\n<p class=\"small\">{}</p>",
        escape(PAIR_NOTE)
    )?;
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|p| {
            let [cells @ .., ratio, t, w] = pair_cells(p);
            let text = cells.iter().map(|c| td(c));
            text.chain([ratio, t, w].iter().map(|c| td_num(c))).collect()
        })
        .collect();
    table(page, &PAIR_HEADERS, &rows);
    Ok(())
}

fn depth_html(page: &mut String, report: &SessionReport) -> Result<()> {
    if report.depths.is_empty() {
        return Ok(());
    }
    page.push_str("<h3>Context depth</h3>\n<p class=\"small\">The context filled to each depth with a cached prefix, then a short follow-up: its TTFT (the new tokens read at that depth) and a fixed-length decode at that depth; geometric means with 95 % t-intervals on the logs over repeats.</p>\n");
    let mut depths: Vec<u32> = report.depths.iter().map(|d| d.depth).collect();
    depths.sort_unstable();
    depths.dedup();
    let steps: Vec<String> = depths.iter().map(u32::to_string).collect();
    let groups = super::distinct(report.depths.iter().map(|d| d.group.as_str()));
    let series = |scale: f64,
                  get: &dyn Fn(&crate::session::analysis::DepthRow) -> Option<&Estimate>|
     -> Vec<Series<Vec<Option<Point>>>> {
        groups
            .iter()
            .enumerate()
            .map(|(i, g)| Series {
                name: (*g).to_owned(),
                colour: charts::colour(i),
                values: depths
                    .iter()
                    .map(|d| {
                        report
                            .depths
                            .iter()
                            .find(|r| r.group == *g && r.depth == *d)
                            .and_then(|r| point(get(r), scale))
                    })
                    .collect(),
            })
            .collect()
    };
    page.push_str(&charts::trend(
        &Axes {
            title: "Decode rate against context depth",
            x: "depth, tokens",
            y: "decode, tok/s",
        },
        &steps,
        &series(1.0, &|r| r.decode_rate.as_ref()),
    )?);
    page.push_str(&charts::trend(
        &Axes {
            title: "Follow-up TTFT against context depth",
            x: "depth, tokens",
            y: "TTFT, ms",
        },
        &steps,
        &series(1e3, &|r| r.ttft_s.as_ref()),
    )?);
    let rows: Vec<Vec<String>> = report
        .depths
        .iter()
        .map(|d| {
            vec![
                td(&d.group),
                td_num(&d.depth.to_string()),
                td_num(&format!("{}/{}", d.ok, d.requests)),
                td_num(&opt(d.prompt_tokens)),
                td_num(&d.cached_tokens.map_or("not reported".into(), |c| format!("{c:.0}"))),
                td_num(&estimate_text(d.ttft_s.as_ref(), 1e3, 1)),
                td_num(&estimate_text(d.decode_rate.as_ref(), 1.0, 1)),
            ]
        })
        .collect();
    table(
        page,
        &[
            "group",
            "depth",
            "ok",
            "prompt tokens",
            "cached",
            "TTFT ms [95 %]",
            "decode tok/s [95 %]",
        ],
        &rows,
    );
    Ok(())
}

/// The section of `summary.md`.
pub fn markdown(md: &mut String, run: &RunData) -> Result<()> {
    let Some(report) = &run.sessions else { return Ok(()) };
    let cell = super::sanitize::markdown;
    md.push_str("\n## Agent sessions\n\nEffective tok/s = Σ output tokens / Σ (TTFT + generation time) over a session (famstack's definition); geometric means with 95 % t-intervals on the logs over repeats.\n\n");
    if !report.sessions.is_empty() {
        md.push_str("| Group | Session | Cache | Repeats | Turns | Effective tok/s [95 %] | TTFT turn 1 ms | TTFT last turn ms | Time in prefill | Final context | Cache efficiency |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
        for s in &report.sessions {
            let rows: Vec<&TurnRow> = report
                .turns
                .iter()
                .filter(|t| {
                    t.group == s.group && t.session == s.session && t.prefix_cache == s.prefix_cache && t.ok > 0
                })
                .collect();
            let ttft = |t: Option<&&TurnRow>| estimate_text(t.and_then(|t| t.ttft_s.as_ref()), 1e3, 1);
            writeln!(
                md,
                "| {} | {} | {} | {}/{} | {} | {} | {} | {} | {} | {} | {} |",
                cell(&s.group),
                cell(&s.session),
                if s.prefix_cache { "on" } else { "off" },
                s.complete,
                s.repeats,
                s.turns,
                estimate_text(s.effective_tok_s.as_ref(), 1.0, 2),
                ttft(rows.first()),
                ttft(rows.last()),
                s.prefill_share
                    .map_or("–".into(), |e| format!("{:.0} %", e.point * 100.0)),
                opt(s.final_context),
                efficiency_text(s.cache_efficiency),
            )?;
        }
    }
    if !report.paired_ab.is_empty() {
        writeln!(md, "\n### Paired sessions: B against A\n\n{PAIR_NOTE}\n")?;
        writeln!(
            md,
            "| {} |\n|{}",
            PAIR_HEADERS.join(" | "),
            "---|".repeat(PAIR_HEADERS.len())
        )?;
        for p in &report.paired_ab {
            let cells: Vec<String> = pair_cells(p).iter().map(|c| cell(c)).collect();
            writeln!(md, "| {} |", cells.join(" | "))?;
        }
    }
    if !report.depths.is_empty() {
        md.push_str("\n### Context depth\n\n| Group | Depth | OK | Prompt tokens | Cached | TTFT ms [95 %] | Decode tok/s [95 %] |\n|---|---|---|---|---|---|---|\n");
        for d in &report.depths {
            let cached = d.cached_tokens.map_or("not reported".into(), |c| format!("{c:.0}"));
            writeln!(
                md,
                "| {} | {} | {}/{} | {} | {cached} | {} | {} |",
                cell(&d.group),
                d.depth,
                d.ok,
                d.requests,
                opt(d.prompt_tokens),
                estimate_text(d.ttft_s.as_ref(), 1e3, 1),
                estimate_text(d.decode_rate.as_ref(), 1.0, 1)
            )?;
        }
    }
    for c in &report.cuts {
        let at = c.turn.map_or(String::new(), |t| format!(" before turn {}", t + 1));
        writeln!(
            md,
            "\n- {} {} {}{at}: {}",
            cell(&c.group),
            c.workload,
            cell(&c.what),
            cell(&c.reason)
        )?;
    }
    Ok(())
}
