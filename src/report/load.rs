//! The load sections of the run page, from `concurrency.json` and `prefill.json`: throughput and
//! latency percentiles against concurrency (or arrival rate), and prefill rate against context
//! length.

use super::charts::{self, Axes, Point, Series};
use super::markup::{escape, table, td, td_num};
use super::{num, quantile_point as point, quantile_text, RunData};
use crate::load::analysis::{LevelResult, LoadResult, Percentiles};
use crate::load::LoadKind;
use crate::prefill::CacheState;
use anyhow::Result;
use std::fmt::Write;

fn level_label(l: &LevelResult) -> String {
    match (l.level, l.rate_per_s) {
        (Some(n), _) => n.to_string(),
        (None, Some(rate)) => format!("{} req/s", num(rate)),
        (None, None) => "?".into(),
    }
}

/// Steps (x labels) shared by the results' levels, in first-seen order.
fn steps(results: &[&LoadResult]) -> Vec<String> {
    let labels: Vec<String> = results.iter().flat_map(|r| r.levels.iter().map(level_label)).collect();
    super::distinct(labels.iter().map(String::as_str))
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// One series per result, its value at each step taken by `get`; colours start at `first_colour`
/// (so two families of series in one chart differ).
fn series(
    results: &[&LoadResult],
    steps: &[String],
    first_colour: usize,
    name: &dyn Fn(&LoadResult) -> String,
    get: &dyn Fn(&LevelResult) -> Option<Point>,
) -> Vec<Series<Vec<Option<Point>>>> {
    results
        .iter()
        .enumerate()
        .map(|(i, r)| Series {
            name: name(r),
            colour: charts::colour(first_colour + i),
            values: steps
                .iter()
                .map(|s| r.levels.iter().find(|l| level_label(l) == *s).and_then(get))
                .collect(),
        })
        .collect()
}

pub fn concurrency(page: &mut String, run: &RunData) -> Result<()> {
    let Some(report) = &run.load else { return Ok(()) };
    for (kind, heading, x) in [
        (LoadKind::Concurrency, "Concurrency (closed loop)", "concurrent streams"),
        (LoadKind::OpenLoop, "Open loop (scheduled arrivals)", "arrival rate"),
    ] {
        let results: Vec<&LoadResult> = report.benchmarks.iter().filter(|r| r.benchmark == kind).collect();
        let Some(first) = results.first() else { continue };
        write!(page, "<h2>{heading}</h2>\n<p class=\"small\">Aggregate rate: tokens generated inside the steady-state window / its length — {}. One value per level (a level is one measurement; repeat runs for its spread). Percentiles are over the level's successful requests, with distribution-free 95 % intervals where n allows.</p>\n", escape(&first.window_definition))?;
        let steps = steps(&results);
        let group = |r: &LoadResult| r.group.clone();
        let aggregate = series(&results, &steps, 0, &group, &|l| {
            l.aggregate_rate.map(|v| Point {
                value: v,
                lower: v,
                upper: v,
            })
        });
        page.push_str(&charts::trend(
            &Axes {
                title: "Aggregate output rate (steady-state window)",
                x,
                y: "tokens/s, all streams",
            },
            &steps,
            &aggregate,
        )?);
        let decode = series(&results, &steps, 0, &group, &|l| point(l.decode_rate.p50.as_ref(), 1.0));
        page.push_str(&charts::trend(
            &Axes {
                title: "Per-request decode rate (median, 95 % interval)",
                x,
                y: "decode rate, tokens/s",
            },
            &steps,
            &decode,
        )?);
        let mut latency = series(&results, &steps, 0, &|r| format!("{} p50", r.group), &|l| {
            point(l.ttft_s.p50.as_ref(), 1e3)
        });
        latency.extend(series(
            &results,
            &steps,
            results.len(),
            &|r| format!("{} p95", r.group),
            &|l| point(l.ttft_s.p95.as_ref(), 1e3),
        ));
        page.push_str(&charts::trend(
            &Axes {
                title: "TTFT percentiles (95 % intervals where n allows)",
                x,
                y: "TTFT, ms",
            },
            &steps,
            &latency,
        )?);
        for r in &results {
            writeln!(page, "<h3>{}</h3>", escape(&r.group))?;
            let p50 = |p: &Percentiles, scale: f64| quantile_text(p.p50.as_ref(), scale);
            let rows: Vec<Vec<String>> = r
                .levels
                .iter()
                .map(|l| {
                    let failures: Vec<String> = l.failures.iter().map(|(k, v)| format!("{v}× {k}")).collect();
                    vec![
                        td_num(&level_label(l)),
                        td_num(&format!("{}/{}", l.ok, l.requests)),
                        td_num(
                            &l.aggregate_rate
                                .map_or_else(|| l.window_note.clone().unwrap_or("–".into()), num),
                        ),
                        td_num(&l.speedup.map_or("–".into(), |v| format!("{v:.2}×"))),
                        td_num(
                            &l.scaling_efficiency
                                .map_or("–".into(), |v| format!("{:.0} %", v * 100.0)),
                        ),
                        td_num(&l.fairness_jain.map_or("–".into(), |v| format!("{v:.3}"))),
                        td_num(&p50(&l.decode_rate, 1.0)),
                        td_num(&p50(&l.ttft_s, 1e3)),
                        td_num(&quantile_text(l.ttft_s.p95.as_ref(), 1e3)),
                        td_num(&quantile_text(l.ttft_s.p99.as_ref(), 1e3)),
                        td_num(&p50(&l.headers_s, 1e3)),
                        td_num(&p50(&l.client_wait_s, 1e3)),
                        td(&failures.join("; ")),
                    ]
                })
                .collect();
            table(
                page,
                &[
                    "level",
                    "ok",
                    "aggregate tok/s",
                    "speedup",
                    "efficiency",
                    "Jain fairness",
                    "decode tok/s p50",
                    "TTFT ms p50",
                    "TTFT ms p95",
                    "TTFT ms p99",
                    "to headers ms p50",
                    "client wait ms p50",
                    "failures",
                ],
                &rows,
            );
        }
    }
    Ok(())
}

pub fn prefill(page: &mut String, run: &RunData) -> Result<()> {
    let Some(report) = &run.prefill else { return Ok(()) };
    page.push_str("<h2>Long-context prefill</h2>\n<p class=\"small\">Prompts sized from the server's own prompt counts. Cold: a unique salt and no prefix cache; warm: the same prompt after a priming request. Prefill rate = processed (not cached) prompt tokens / TTFT; medians with 95 % intervals where n allows. \"Cache verified\": samples whose cached-token count the server reported and that matched the intended state.</p>\n");
    let mut sizes: Vec<u32> = report.rows.iter().map(|r| r.target_tokens).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let steps: Vec<String> = sizes.iter().map(|s| format!("{s} tokens")).collect();
    let keys = super::distinct(report.rows.iter().map(|r| r.group.as_str()));
    let by_cache = |cache: CacheState,
                    get: &dyn Fn(&crate::prefill::PrefillRow) -> Option<Point>|
     -> Vec<Series<Vec<Option<Point>>>> {
        keys.iter()
            .enumerate()
            .map(|(i, g)| Series {
                name: format!("{g} {}", crate::util::serde_name(cache)),
                colour: charts::colour(i + if cache == CacheState::Warm { keys.len() } else { 0 }),
                values: sizes
                    .iter()
                    .map(|s| {
                        report
                            .rows
                            .iter()
                            .find(|r| r.group == *g && r.target_tokens == *s && r.cache == cache)
                            .and_then(get)
                    })
                    .collect(),
            })
            .collect()
    };
    let rate = by_cache(CacheState::Cold, &|r| point(r.prefill_rate.as_ref(), 1.0));
    page.push_str(&charts::trend(
        &Axes {
            title: "Cold prefill rate against prompt length (median, 95 % interval)",
            x: "prompt length",
            y: "prefill rate, tokens/s",
        },
        &steps,
        &rate,
    )?);
    let mut ttft = by_cache(CacheState::Cold, &|r| point(r.ttft_s.as_ref(), 1.0));
    ttft.extend(by_cache(CacheState::Warm, &|r| point(r.ttft_s.as_ref(), 1.0)));
    page.push_str(&charts::trend(
        &Axes {
            title: "TTFT against prompt length, cold and warm (median, 95 % interval)",
            x: "prompt length",
            y: "TTFT, s",
        },
        &steps,
        &ttft,
    )?);
    let rows: Vec<Vec<String>> = report
        .rows
        .iter()
        .map(|r| {
            vec![
                td(&r.group),
                td_num(&r.target_tokens.to_string()),
                td(&crate::util::serde_name(r.cache)),
                td_num(&format!("{}/{}", r.ok, r.requests)),
                td_num(&r.prompt_tokens_p50.map_or("–".into(), num)),
                td_num(&format!("{}/{}", r.cache_verified, r.cache_reported)),
                td_num(&quantile_text(r.ttft_s.as_ref(), 1.0)),
                td_num(&quantile_text(r.prefill_rate.as_ref(), 1.0)),
            ]
        })
        .collect();
    table(
        page,
        &[
            "group",
            "target tokens",
            "cache",
            "ok",
            "prompt tokens p50",
            "cache verified",
            "TTFT s p50",
            "prefill tok/s p50",
        ],
        &rows,
    );
    for s in &report.skipped {
        writeln!(
            page,
            "<p class=\"small\">Skipped {} / {} tokens: {}</p>",
            escape(&s.group),
            s.target_tokens,
            escape(&s.reason)
        )?;
    }
    Ok(())
}
