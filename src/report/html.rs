//! `index.html` of a run: one self-contained page — inline CSS and SVG, no scripts, no external
//! requests — that opens offline. Every string that comes from the model, the server, the
//! config or the command line goes through [`escape`] on its way into the page.

use super::charts::{self, Axes, Point, Series};
use super::markup::{css_class, escape, head, table, td, td_num};
use super::{thinning, Exporter, RunData, Severity, Shown, DECODE, E2E, PREFILL, TTFT};
use crate::compare::Verdict;
use crate::record::GenerationRecord;
use anyhow::Result;
use std::fmt::Write;

pub struct Html;

impl Exporter for Html {
    fn file_name(&self) -> &'static str {
        "index.html"
    }

    fn render(&self, run: &RunData) -> Result<String> {
        let mut page = String::new();
        let status = run.info.status();
        write!(page, "{}", head(&format!("quantbench run {}", run.run)))?;
        write!(
            page,
            "<h1>quantbench run {} <span class=\"status {}\">{}</span>{}</h1>",
            escape(&run.run),
            css_class(status),
            escape(&run.info.status_text()),
            super::answer::badge(run)
        )?;
        page.push_str("<p class=\"nav\"><a href=\"../index.html\">all runs</a> · <a href=\"summary.md\">summary.md</a> · <a href=\"generations.csv\">generations.csv</a> · <a href=\"generations.jsonl\">generations.jsonl</a></p>\n");
        page.push_str(&super::answer::html(run));
        read_first(&mut page, run)?;
        summary_table(&mut page, run)?;
        quant_comparison(&mut page, run)?;
        comparison(&mut page, run)?;
        speed_charts(&mut page, run)?;
        distribution_charts(&mut page, run)?;
        models(&mut page, run)?;
        speed_and_quality(&mut page, run)?;
        super::load::concurrency(&mut page, run)?;
        super::load::prefill(&mut page, run)?;
        super::session::html(&mut page, run)?;
        paired(&mut page, run)?;
        failures(&mut page, run)?;
        super::machine::section(&mut page, run)?;
        examples(&mut page, run)?;
        metadata(&mut page, run)?;
        page.push_str(METHOD_NOTE);
        page.push_str("</body></html>\n");
        Ok(page)
    }
}

fn swatch(run: &RunData, group: &str) -> String {
    swatch_of(run.groups().iter().position(|g| *g == group).unwrap_or(0), group)
}

fn swatch_of(i: usize, group: &str) -> String {
    format!(
        "<span class=\"group\"><span class=\"swatch\" style=\"background:{}\"></span>{}</span>",
        charts::css_colour(i),
        escape(group)
    )
}

/// Run-level problems at the top of the page: an unfinished run, and every benchmark whose
/// numbers rest on estimates, failures or disagreement with the server.
fn read_first(page: &mut String, run: &RunData) -> Result<()> {
    let mut items = Vec::new();
    match run.info.status.as_deref() {
        Some("complete") => {}
        Some("partial") => items.push(format!(
            "<li class=\"warning\">The run is <b>{}</b> — what ran is below.</li>",
            escape(&run.info.status_text())
        )),
        status => {
            let error = run.info.error.as_deref().unwrap_or("");
            items.push(format!("<li class=\"warning\">The run is <b>{}</b>: {} — the records below are what it measured before it stopped.</li>", escape(status.unwrap_or("unknown")), escape(error)));
        }
    }
    for stop in &run.summary.group_stops {
        items.push(format!("<li class=\"warning\">{}</li>", escape(&stop.text())));
    }
    for w in super::machine::preflight_warnings(run) {
        items.push(format!(
            "<li class=\"warning\">Before measuring, the pre-flight check warned: {}</li>",
            escape(&w)
        ));
    }
    for b in run.summary.benchmarks.iter().filter(|b| !b.stopped_with_group) {
        for (_, note) in super::provenance_notes(b)
            .into_iter()
            .filter(|(s, _)| *s == Severity::Warning)
        {
            items.push(format!(
                "<li class=\"warning\">{}/{}: {}</li>",
                escape(&b.group),
                escape(&b.category),
                escape(&note)
            ));
        }
    }
    if !items.is_empty() {
        writeln!(
            page,
            "<div class=\"box\"><b>Read before trusting the numbers</b><ul>{}</ul></div>",
            items.join("")
        )?;
    }
    Ok(())
}

fn summary_table(page: &mut String, run: &RunData) -> Result<()> {
    page.push_str("<h2>Summary</h2>\n<p class=\"small\">Per benchmark (group × prompt category), over successful measured samples. Means: arithmetic for rates, geometric for times; medians with distribution-free intervals; all intervals 95 %.</p>\n");
    let with_quality = run.summary.benchmarks.iter().any(|b| b.quality.is_some());
    let mut headers = vec![
        "group",
        "category",
        "ok / runs",
        "decode tok/s mean",
        "decode tok/s median",
        "TTFT ms median",
        "E2E s median",
        "prefill tok/s median",
        "tokens counted by",
    ];
    if with_quality {
        headers.push("answers checked");
    }
    headers.push("notes");
    let rows: Vec<Vec<String>> = run
        .summary
        .benchmarks
        .iter()
        .map(|b| {
            let pass = b.pass_rate.map_or("–".into(), |p| {
                format!("{}/{} ({:.0} %)", b.ok, b.attempted, p * 100.0)
            });
            let sources: Vec<String> = b.completion_sources.iter().map(|(k, v)| format!("{k} ×{v}")).collect();
            let notes: Vec<String> = super::provenance_notes(b)
                .iter()
                .map(|(s, n)| {
                    format!(
                        "<span class=\"{}\">{}</span>",
                        if *s == Severity::Warning { "warning" } else { "info" },
                        escape(n)
                    )
                })
                .collect();
            let mut row = vec![
                format!("<td>{}</td>", swatch(run, &b.group)),
                td(&b.category),
                td_num(&pass),
                td_num(&super::mean_text(b, &DECODE)),
                td_num(&super::median_text(b, &DECODE)),
                td_num(&super::median_text(b, &TTFT)),
                td_num(&super::median_text(b, &E2E)),
                td_num(&super::median_text(b, &PREFILL)),
                td(&sources.join(", ")),
            ];
            if with_quality {
                row.push(td(&super::quality_text(b).unwrap_or_else(|| "–".into())));
            }
            row.push(format!("<td>{}</td>", notes.join("<br>")));
            row
        })
        .collect();
    table(page, &headers, &rows);
    Ok(())
}

/// One bar series per group over the run's categories: the metric's mean with its interval.
fn mean_series(run: &RunData, shown: &Shown) -> Vec<Series<Vec<Option<Point>>>> {
    let categories = run.categories();
    run.groups()
        .iter()
        .enumerate()
        .map(|(i, g)| Series {
            name: g.to_string(),
            colour: charts::colour(i),
            values: categories
                .iter()
                .map(|c| run.benchmark(g, c).and_then(|b| super::mean_point(b, shown)))
                .collect(),
        })
        .collect()
}

fn speed_charts(page: &mut String, run: &RunData) -> Result<()> {
    let categories: Vec<String> = run.categories().iter().map(|c| c.to_string()).collect();
    page.push_str("<h2>Speed by category</h2>\n");
    page.push_str(&charts::grouped_bars(
        &Axes {
            title: "Decode rate (mean, 95 % interval)",
            x: "prompt category",
            y: "decode rate, tokens/s",
        },
        &categories,
        &mean_series(run, &DECODE),
    )?);
    page.push_str(&charts::grouped_bars(
        &Axes {
            title: "Time to first token (geometric mean, 95 % interval)",
            x: "prompt category",
            y: "TTFT, ms",
        },
        &categories,
        &mean_series(run, &TTFT),
    )?);
    Ok(())
}

fn distribution_charts(page: &mut String, run: &RunData) -> Result<()> {
    let categories = run.categories();
    let labels: Vec<String> = categories.iter().map(|c| c.to_string()).collect();
    // One pass over a group's samples for all its categories (a long run has many records).
    let boxes = |get: fn(&GenerationRecord) -> Option<f64>| -> Vec<Series<Vec<Vec<f64>>>> {
        let by_category = |g: &str| {
            let mut values = vec![Vec::new(); categories.len()];
            for r in run.samples(g, None) {
                if let (Some(c), Some(v)) = (categories.iter().position(|c| *c == r.category), get(r)) {
                    values[c].push(v);
                }
            }
            values
        };
        run.groups()
            .iter()
            .enumerate()
            .map(|(i, g)| Series {
                name: g.to_string(),
                colour: charts::colour(i),
                values: by_category(g),
            })
            .collect()
    };
    page.push_str("<h2>Distributions</h2>\n");
    page.push_str(&charts::grouped_boxes(
        &Axes {
            title: "TTFT per sample (box: quartiles; whiskers: 1.5 IQR)",
            x: "prompt category",
            y: "TTFT, ms (log scale)",
        },
        &labels,
        &boxes(|r| r.metrics.ttft_s.map(|s| s * 1e3)),
    )?);
    page.push_str(&charts::grouped_boxes(
        &Axes {
            title: "End-to-end time per sample",
            x: "prompt category",
            y: "E2E, s (log scale)",
        },
        &labels,
        &boxes(|r| r.metrics.e2e_s),
    )?);

    page.push_str(
        "<p class=\"small\">Dots: samples beyond the whiskers, one per pixel row (dots that would overlap are \
         drawn once); every sample is in generations.csv.</p>\n",
    );
    super::gap_cdf::write(page, run, &|g| swatch(run, g))?;

    // A typical generation per group, token events against time: the flat start is the prefill.
    let Some(category) = categories.iter().max_by_key(|c| {
        run.records
            .iter()
            .filter(|r| r.category == **c)
            .map(|r| r.tokens.token_events)
            .max()
            .unwrap_or(0)
    }) else {
        return Ok(());
    };
    let mut most_events = (0, 1);
    let timelines: Vec<Series<Vec<(f64, f64)>>> = run
        .groups()
        .iter()
        .enumerate()
        .filter_map(|(i, g)| {
            let r = super::representative(run, g, category)?;
            let first = r.t.first_token_ns? as f64 / 1e9;
            let mut t = first;
            let mut points = vec![(0.0, 0.0), (first, 1.0)];
            for (k, gap) in r.itl_us.iter().enumerate() {
                t += *gap as f64 / 1e6;
                points.push((t, (k + 2) as f64));
            }
            let (points, stride) = thinning::timeline(&points);
            most_events = most_events.max((r.itl_us.len() + 1, stride));
            Some(Series {
                name: format!("{g} (sample {})", r.sample),
                colour: charts::colour(i),
                values: points,
            })
        })
        .collect();
    if !timelines.is_empty() {
        let title = format!("Token timeline of a typical \"{category}\" generation (decode rate nearest the median)");
        page.push_str(&charts::lines(
            &Axes {
                title: &title,
                x: "time since the request was sent, s",
                y: "token events received",
            },
            &timelines,
            true,
        )?);
        if let (events, stride @ 2..) = most_events {
            writeln!(
                page,
                "<p class=\"small\">Drawn at screen resolution: every {stride}th of up to {events} token events, and \
                 the last; every gap is in generations.jsonl.</p>"
            )?;
        }
    }
    Ok(())
}

/// Load time, model size and speed per GB, per group.
fn models(page: &mut String, run: &RunData) -> Result<()> {
    page.push_str("<h2>Models: size, load time, speed per GB</h2>\n");
    let mut rows = Vec::new();
    let (mut load, mut per_gb_bars, mut peak_memory) = (Vec::new(), Vec::new(), Vec::new());
    for (i, g) in run.groups().iter().enumerate() {
        let group_run = run.info.group_run(g);
        let load_s = group_run.and_then(|m| m.load_time_s);
        let server_load_s = group_run.and_then(|m| m.load_time_server_s);
        let bytes = run.model_bytes(g);
        let decode: Vec<f64> = run.samples(g, None).filter_map(|r| r.metrics.decode_rate).collect();
        let median = crate::stats::quantile_ci(&decode, 0.5, crate::analysis::LEVEL);
        let per_gb = median.as_ref().zip(bytes).map(|(m, b)| m.point / (b as f64 / 1e9));
        let memory = group_run.and_then(|m| m.memory.as_ref());
        let (peak, steady) = (
            memory.map(|m| m.peak_rss_bytes as f64 / 1e9),
            memory.map(|m| m.steady_rss_bytes as f64 / 1e9),
        );
        let unsampled = group_run.and_then(|m| m.memory_unavailable.as_deref());
        rows.push(vec![
            format!("<td>{}</td>", swatch(run, g)),
            td(run.info.backend(g).unwrap_or("–")),
            td(&group_run
                .and_then(|m| m.model_file.as_ref())
                .map_or("–".into(), |p| p.display().to_string())),
            td_num(&bytes.map_or("–".into(), |b| format!("{:.3} GB", b as f64 / 1e9))),
            td_num(&match (load_s, server_load_s) {
                (Some(s), Some(server)) => format!("{} s (server: {} s)", super::num(s), super::num(server)),
                (Some(s), None) => format!("{} s", super::num(s)),
                (None, _) => "–".into(),
            }),
            match (peak, steady, unsampled) {
                (Some(p), Some(s), _) => td_num(&format!("{} / {} GB", super::num(p), super::num(s))),
                (_, _, Some(why)) => td(&format!("not sampled: {why}")),
                _ => td_num("–"),
            },
            td_num(&median.map_or("–".into(), |m| {
                super::with_interval(m.point, m.interval.as_ref(), 1.0)
            })),
            td_num(&per_gb.map_or("–".into(), super::num)),
        ]);
        load.push((g.to_string(), load_s, charts::colour(i)));
        per_gb_bars.push((g.to_string(), per_gb, charts::colour(i)));
        peak_memory.push((g.to_string(), peak, charts::colour(i)));
    }
    table(
        page,
        &[
            "group",
            "backend",
            "model file",
            "size",
            "load time",
            "server RSS peak / steady",
            "decode tok/s median, all categories",
            "decode tok/s per GB",
        ],
        &rows,
    );
    page.push_str("<p class=\"small\">Load time: from starting the server (or asking it to load the model, with model_lifecycle = \"manage\") until it answered as ready, on our clock; in parentheses the server's own figure where it gives one (LM Studio's load_time_seconds); one measurement per group. Server RSS: resident memory of the server's process tree, sampled while the group ran (steady: see docs/schema.md).</p>\n");
    if load.iter().any(|(_, v, _)| v.is_some()) {
        page.push_str(&charts::labelled_bars(
            &Axes {
                title: "Model load time (one measurement per group)",
                x: "group",
                y: "load time, s",
            },
            &load,
        )?);
    }
    if peak_memory.iter().any(|(_, v, _)| v.is_some()) {
        page.push_str(&charts::labelled_bars(
            &Axes {
                title: "Peak resident memory of the server while the group ran",
                x: "group",
                y: "peak RSS, GB",
            },
            &peak_memory,
        )?);
    }
    if per_gb_bars.iter().any(|(_, v, _)| v.is_some()) {
        page.push_str(&charts::labelled_bars(
            &Axes {
                title: "Decode rate per GB of model file (median over all categories)",
                x: "group",
                y: "tokens/s per GB",
            },
            &per_gb_bars,
        )?);
    }
    Ok(())
}

/// Speed, memory and quality per group side by side, and decode rate against fidelity to the
/// reference quant (see `report::quant`).
fn quant_comparison(page: &mut String, run: &RunData) -> Result<()> {
    let Some(rows) = super::quant::rows(run) else {
        return Ok(());
    };
    page.push_str("<h2>Which quant? Speed, memory and quality side by side</h2>\n");
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let name = if r.is_reference() {
                format!("{} (reference)", swatch_of(r.colour, r.group))
            } else {
                swatch_of(r.colour, r.group)
            };
            let fidelity = match r.fidelity_texts() {
                Ok([greedy, divergence, top1, kl]) => {
                    vec![td_num(&greedy), td_num(&divergence), td_num(&top1), td_num(&kl)]
                }
                Err(why) => vec![format!("<td colspan=\"4\">{}</td>", escape(&why))],
            };
            let mut row = vec![
                format!("<td>{name}</td>"),
                td_num(
                    &r.model_bytes
                        .map_or("–".into(), |b| format!("{:.3} GB", b as f64 / 1e9)),
                ),
                td_num(&super::quantile_text(r.decode.as_ref(), 1.0)),
                td_num(&r.roofline_text()),
                td_num(&super::quantile_text(r.ttft.as_ref(), 1e3)),
                td_num(
                    &r.peak_rss_bytes
                        .map_or("–".into(), |b| format!("{} GB", super::num(b / 1e9))),
                ),
                td_num(&r.checked_text()),
            ];
            row.extend(fidelity);
            row
        })
        .collect();
    let headers = [
        "group",
        "size",
        "decode tok/s",
        "of roofline",
        "TTFT ms",
        "RSS peak",
        "checked answers",
        "greedy match",
        "first divergence",
        "top-1 agreement",
        "KL, nats",
    ];
    table(page, &headers, &cells);
    writeln!(page, "<p class=\"small\">{}</p>", escape(super::quant::NOTE))?;
    // Each group with both a decode rate and fidelity figures is one point.
    let points = |value: &dyn Fn(&crate::fidelity::FidelitySummary) -> &crate::stats::Estimate,
                  scale: f64,
                  with_reference: bool|
     -> Vec<Series<(Point, Point)>> {
        rows.iter()
            .filter(|r| with_reference || !r.is_reference())
            .filter_map(|r| {
                let (decode, e) = (
                    super::quantile_point(r.decode.as_ref(), 1.0)?,
                    value(r.fidelity?.summary.as_ref()?),
                );
                Some(Series {
                    name: r.group.to_owned(),
                    colour: charts::colour(r.colour),
                    values: (super::scaled_point(e.point, e.interval.as_ref(), scale), decode),
                })
            })
            .collect()
    };
    let top1 = points(&|s| &s.top1_agreement, 100.0, true);
    if top1.len() >= 2 {
        let low = top1.iter().map(|s| s.values.0.lower).fold(100.0, f64::min);
        page.push_str(&charts::scatter(
            &Axes {
                title: "Decode rate against top-1 agreement with the reference (up and right is better)",
                x: "top-1 agreement with the reference, %",
                y: "decode rate, tokens/s (median)",
            },
            charts::XAxis::Linear((low - 2.0).max(0.0), 101.0),
            &top1,
        )?);
        // KL spans decades between quants: a log axis, without the reference (its noise floor,
        // 0 or nearly, is in the table).
        let kl = points(&|s| &s.kl, 1.0, false);
        let positive = || {
            kl.iter()
                .flat_map(|s| [s.values.0.lower, s.values.0.value, s.values.0.upper])
                .filter(|v| *v > 0.0)
        };
        if let (Some(low), Some(high)) = (positive().reduce(f64::min), positive().reduce(f64::max)) {
            let axes = Axes {
                title: "Decode rate against KL divergence from the reference, log scale (up and left is better)",
                x: "KL(reference ‖ group), nats",
                y: "decode rate, tokens/s (median)",
            };
            page.push_str(&charts::scatter(&axes, charts::XAxis::Log(low / 1.5, high * 1.5), &kl)?);
        }
    }
    Ok(())
}

/// Per group, the pass rate of its checked answers against the decode rate of the same
/// generations: the picture that says whether a faster quant answers worse.
fn speed_and_quality(page: &mut String, run: &RunData) -> Result<()> {
    let points: Vec<Series<(Point, Point)>> = run
        .groups()
        .iter()
        .enumerate()
        .filter_map(|(i, g)| {
            let scored: Vec<&GenerationRecord> = run
                .samples(g, None)
                .filter(|r| r.quality.as_ref().is_some_and(|q| q.passed.is_some()))
                .collect();
            let checked = crate::summary::quality(&scored)?;
            let (passed, rate) = (checked.passed, checked.pass_rate?);
            let pass = rate.interval?;
            let rate = rate.point;
            let decode: Vec<f64> = scored.iter().filter_map(|r| r.metrics.decode_rate).collect();
            let mean = crate::stats::mean_ci(&decode, crate::analysis::LEVEL)?;
            let interval = mean.interval?;
            let x = Point {
                value: rate * 100.0,
                lower: pass.lower * 100.0,
                upper: pass.upper * 100.0,
            };
            let y = Point {
                value: mean.point,
                lower: interval.lower,
                upper: interval.upper,
            };
            Some(Series {
                name: format!("{g} ({passed}/{})", scored.len()),
                colour: charts::colour(i),
                values: (x, y),
            })
        })
        .collect();
    if points.is_empty() {
        return Ok(());
    }
    page.push_str("<h2>Speed and checked answers</h2>\n<p class=\"small\">Per group, over its answers to prompts with a check (quality prompt set): pass rate with a Wilson 95 % interval, and the mean decode rate of the same generations with its 95 % interval. Up and right is better.</p>\n");
    page.push_str(&charts::scatter(
        &Axes {
            title: "Decode rate against the pass rate of checked answers",
            x: "checked answers passed, %",
            y: "decode rate, tokens/s",
        },
        charts::XAxis::Linear(-2.0, 102.0),
        &points,
    )?);
    Ok(())
}

fn comparison(page: &mut String, run: &RunData) -> Result<()> {
    let Some(doc) = &run.comparison else { return Ok(()) };
    write!(
        page,
        "<h2>Against baseline “{}”</h2>\n<p class=\"small\">Ratio candidate / baseline of geometric means (both shown) with a 95 % interval; Holm-corrected over all {} comparisons; a change counts only when the whole interval lies beyond ±{:.0} % (α = {}).</p>\n",
        escape(&doc.baseline),
        doc.comparisons.len(),
        doc.noise_threshold * 100.0,
        doc.alpha
    )?;
    let rows: Vec<Vec<String>> = doc
        .comparisons
        .iter()
        .map(|c| {
            let verdict = crate::util::serde_name(c.verdict);
            vec![
                format!("<td><b>{}</b></td>", escape(&verdict)),
                format!("<td>{}</td>", swatch(run, &c.group)),
                td(&c.category),
                td(&c.metric),
                td_num(&crate::headline::values(c).unwrap_or_else(|| "–".into())),
                td_num(&c.change_text()),
                td_num(&format!("{:.4}", c.holm_p)),
                td_num(&format!("{}/{}", c.n_baseline, c.n_candidate)),
                td_num(&format!("{}/{}", c.baseline_runs, c.candidate_runs)),
            ]
        })
        .collect();
    // Rows are in verdict order (regressed first); colour them by verdict.
    let headers = [
        "verdict",
        "group",
        "category",
        "metric",
        "baseline → this run",
        "change [95 % CI]",
        "Holm p",
        "n base/new",
        "runs base/new",
    ];
    page.push_str("<table><tr>");
    for h in headers {
        write!(page, "<th>{}</th>", escape(h))?;
    }
    page.push_str("</tr>\n");
    for (c, row) in doc.comparisons.iter().zip(rows) {
        writeln!(
            page,
            "<tr class=\"{}\">{}</tr>",
            css_class(&crate::util::serde_name(c.verdict)),
            row.join("")
        )?;
    }
    page.push_str("</table>\n");
    for shown in [&DECODE, &TTFT] {
        let rows: Vec<(String, Point, plotters::style::RGBColor)> = doc
            .comparisons
            .iter()
            .filter(|c| c.metric == shown.metric)
            .map(|c| {
                let colour = match c.verdict {
                    Verdict::Regressed => plotters::style::RGBColor(0xc0, 0x20, 0x20),
                    Verdict::Improved => plotters::style::RGBColor(0x20, 0x90, 0x30),
                    _ => plotters::style::RGBColor(0x55, 0x55, 0x55),
                };
                (
                    format!("{}/{}", c.group, c.category),
                    Point {
                        value: c.ratio,
                        lower: c.interval.lower,
                        upper: c.interval.upper,
                    },
                    colour,
                )
            })
            .collect();
        if !rows.is_empty() {
            let title = format!(
                "{} ratio, new / baseline (grey band: ±{:.0} % noise threshold)",
                shown.label,
                doc.noise_threshold * 100.0
            );
            page.push_str(&charts::forest(
                &Axes {
                    title: &title,
                    x: "ratio (1 = unchanged)",
                    y: "",
                },
                &rows,
                doc.noise_threshold,
            )?);
        }
    }
    Ok(())
}

fn paired(page: &mut String, run: &RunData) -> Result<()> {
    if run.paired.is_empty() {
        return Ok(());
    }
    page.push_str("<h2>Paired A/B comparisons</h2>\n<p class=\"small\">A and B interleaved on the same prompts; ratio B / A with a paired t-interval on log-ratios.</p>\n");
    let rows: Vec<Vec<String>> = run
        .paired
        .iter()
        .map(|p| {
            vec![
                td(&p.name),
                td(&format!("{} / {}", p.b, p.a)),
                td(&p.category),
                td(&p.metric),
                td_num(&super::with_interval(p.ratio, Some(&p.interval), 1.0)),
                td_num(&format!("{:.4}", p.t_p)),
                td_num(&p.n_pairs.to_string()),
            ]
        })
        .collect();
    table(
        page,
        &[
            "comparison",
            "B / A",
            "category",
            "metric",
            "ratio [95 % CI]",
            "t p",
            "pairs",
        ],
        &rows,
    );
    Ok(())
}

fn failures(page: &mut String, run: &RunData) -> Result<()> {
    let failed: Vec<&GenerationRecord> = run.records.iter().filter(|r| !r.ok).collect();
    if failed.is_empty() {
        return Ok(());
    }
    writeln!(page, "<h2>Failed generations ({})</h2>", failed.len())?;
    if failed.len() > FAILURES_LISTED {
        writeln!(
            page,
            "<p class=\"small\">The first {FAILURES_LISTED}; every failure is in generations.csv (column <code>ok</code>).</p>"
        )?;
    }
    let rows: Vec<Vec<String>> = failed
        .iter()
        .take(FAILURES_LISTED)
        .map(|r| {
            let kind = if r.warmup { "warm-up" } else { "sample" };
            vec![
                format!("<td>{}</td>", swatch(run, &r.group)),
                td(&r.category),
                td(&format!("{kind} {}", r.sample)),
                td_num(&r.http_status.map_or("–".into(), |s| s.to_string())),
                td(r.error.as_deref().unwrap_or("")),
            ]
        })
        .collect();
    table(page, &["group", "category", "generation", "HTTP", "reason"], &rows);
    Ok(())
}

/// Failed generations listed on the page; a long run may have thousands.
const FAILURES_LISTED: usize = 100;

/// The answer of each group's typical generation, so a reader sees what was measured.
fn examples(page: &mut String, run: &RunData) -> Result<()> {
    page.push_str("<h2>Example answers</h2>\n<p class=\"small\">Per group and category, the sample whose decode rate is nearest the median; model text is shown as text, never interpreted.</p>\n");
    for g in run.groups() {
        for c in run.categories() {
            let Some(r) = super::representative(run, g, c) else {
                continue;
            };
            write!(
                page,
                "<details><summary>{} · {} · sample {} · {} tokens ({})</summary>",
                swatch(run, g),
                escape(c),
                r.sample,
                r.tokens.completion.map_or("?".into(), |n| n.to_string()),
                escape(
                    &r.tokens
                        .completion_source
                        .map(crate::util::serde_name)
                        .unwrap_or_else(|| "no count".into())
                )
            )?;
            if !r.output.reasoning.is_empty() {
                write!(
                    page,
                    "<p class=\"small\">reasoning ({} tokens):</p><pre>{}</pre>",
                    r.tokens.reasoning.map_or("?".into(), |n| n.to_string()),
                    escape(&truncate(&r.output.reasoning, 2000))
                )?;
            }
            writeln!(
                page,
                "<pre>{}</pre></details>",
                escape(&truncate(&r.output.content, 2000))
            )?;
        }
    }
    Ok(())
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// Run metadata: when, what code, which machine, which servers and models.
fn metadata(page: &mut String, run: &RunData) -> Result<()> {
    page.push_str("<h2>Run metadata</h2>\n");
    let (m, info) = (&run.metadata, &run.info);
    let field = |value: Option<&str>| value.unwrap_or("–").to_owned();
    let git = info
        .git
        .as_ref()
        .map(|g| format!("{}{}", g.revision, if g.dirty { " (uncommitted changes)" } else { "" }));
    let mut rows = vec![
        vec![td("started"), td(&field(info.started_at.as_deref()))],
        vec![td("ended"), td(&field(info.ended_at.as_deref()))],
        vec![td("command"), td(&info.command.join(" "))],
        vec![td("filter"), td(&field(info.filter.as_deref()))],
        vec![td("git revision"), td(git.as_deref().unwrap_or("–"))],
        vec![
            td("config file"),
            td(&info
                .config_path
                .as_ref()
                .map_or("–".into(), |p| p.display().to_string())),
        ],
    ];
    // The machine, the reference installs and every server, as the run wrote them.
    for section in [
        "machine",
        "reference",
        "reference_mlx",
        "reference_vllm",
        "reference_vllm_mlx",
    ] {
        if let Some(value) = m.get(section) {
            for (key, text) in flatten(value, section) {
                rows.push(vec![td(&key), td(&text)]);
            }
        }
    }
    table(page, &["", ""], &rows);
    if let Some(groups) = m.get("groups").and_then(|g| g.as_array()) {
        page.push_str("<h3>Servers</h3>\n");
        for g in groups {
            let rows: Vec<Vec<String>> = flatten(g, "").into_iter().map(|(k, v)| vec![td(&k), td(&v)]).collect();
            table(page, &["", ""], &rows);
        }
    }
    Ok(())
}

/// A JSON scalar as text (strings without quotes).
fn plain(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "–".into(),
        other => other.to_string(),
    }
}

/// Nested JSON as `a.b.c = value` rows, in document order.
fn flatten(value: &serde_json::Value, prefix: &str) -> Vec<(String, String)> {
    let join = |key: &str| {
        if prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{prefix}.{key}")
        }
    };
    match value {
        serde_json::Value::Object(map) => map.iter().flat_map(|(k, v)| flatten(v, &join(k))).collect(),
        serde_json::Value::Array(items) if items.iter().any(|i| i.is_object()) => items
            .iter()
            .enumerate()
            .flat_map(|(i, v)| flatten(v, &join(&i.to_string())))
            .collect(),
        serde_json::Value::Array(items) => vec![(
            prefix.to_owned(),
            items.iter().map(plain).collect::<Vec<_>>().join(", "),
        )],
        scalar => vec![(prefix.to_owned(), plain(scalar))],
    }
}

const METHOD_NOTE: &str = "<h2>How these numbers are made</h2>\n<p class=\"small\">TTFT: request sent → first token-bearing stream event. \
Decode rate: (N − tokens of the first event − tokens after the last event) / (last event − first event), N from the server's usage or timings (an estimate from stream events is marked). \
E2E: request sent → end of stream. Prefill rate: prompt tokens the server processed (cached ones excluded) / TTFT. \
Warm-up generations are recorded but never analysed; failed generations count against the pass rate and are listed. \
Records: <code>generations.jsonl</code>; definitions: <code>docs/schema.md</code>.</p>\n";
