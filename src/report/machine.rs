//! The run page's section on the machine: its state at the pre-flight check, before each
//! benchmark and at the end, trends within benchmarks (drift), and decode rates against the
//! memory-bandwidth bound (roofline). Rendered from `summary.json` and `metadata.json`.

use super::markup::{escape, table, td, td_num};
use super::RunData;
use crate::machine_state::{self, MachineState, Preflight};
use anyhow::Result;
use std::fmt::Write;

/// The pre-flight check's warnings, for the "read before trusting" box.
pub fn preflight_warnings(run: &RunData) -> Vec<String> {
    preflight(run).map(|p| p.warnings).unwrap_or_default()
}

fn preflight(run: &RunData) -> Option<Preflight> {
    run.info.machine_state.preflight.clone()
}

pub fn section(page: &mut String, run: &RunData) -> Result<()> {
    let end: Option<&MachineState> = run.info.machine_state.end.as_ref();
    let pre = preflight(run);
    let per_benchmark = run
        .summary
        .benchmarks
        .iter()
        .filter_map(|b| Some((format!("{}/{}", b.group, b.category), b.machine_state.as_ref()?)));
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut row = |when: String, s: &MachineState, notes: Vec<String>| {
        rows.push(vec![
            td(&when),
            td(&s.at),
            td(&machine_state::state_text(s)),
            td(&notes.join("; ")),
        ])
    };
    if let Some(p) = &pre {
        let quiet = p.others_cores.map_or("no warning".into(), |c| {
            format!("no warning (other processes used {c:.1} CPU cores)")
        });
        row(
            "pre-flight (run start)".into(),
            &p.state,
            if p.warnings.is_empty() {
                vec![quiet]
            } else {
                p.warnings.clone()
            },
        );
    }
    for (id, s) in per_benchmark {
        row(format!("before {id}"), s, s.concerns());
    }
    if let Some(s) = &end {
        row("run end".into(), s, s.concerns());
    }
    if !rows.is_empty() {
        page.push_str("<h2>Machine state</h2>\n<p class=\"small\">Sampled outside measurement: load average, Linux pressure stall information (share of the last 10 s with tasks waiting), CPU frequency and thermal zones; on macOS the CPU speed limit (<code>pmset -g therm</code>), power source (<code>pmset -g batt</code>), swap and memory pressure. Benchmarks started while throttled or on battery carry the flags <code>throttled</code> / <code>on_battery</code>.</p>\n");
        table(page, &["when", "at", "state", "concerns"], &rows);
    }
    let drift: Vec<Vec<String>> = run
        .summary
        .benchmarks
        .iter()
        .filter_map(|b| {
            let d = b.drift.as_ref()?;
            Some(vec![
                td(&format!("{}/{}", b.group, b.category)),
                td(&crate::drift::text(d)),
                td(if d.flagged {
                    "speed changed during the benchmark"
                } else {
                    "no trend"
                }),
            ])
        })
        .collect();
    if !drift.is_empty() {
        page.push_str("<h3>Drift within benchmarks</h3>\n<p class=\"small\">Mann–Kendall trend test on the decode rates in the order the samples ran; change per sample is Sen's slope relative to the median, with its 95 % interval. Flagged at p &lt; 0.05 (so about 1 benchmark in 20 is flagged by chance when nothing changed).</p>\n");
        table(page, &["benchmark", "decode rate trend", "verdict"], &drift);
    }
    roofline(page, run)
}

fn roofline(page: &mut String, run: &RunData) -> Result<()> {
    let Some(first) = run.summary.roofline.first() else {
        return Ok(());
    };
    write!(page, "<h3>Roofline: decode rate against the memory-bandwidth bound</h3>\n<p class=\"small\">Bound = bandwidth ÷ bytes of weights read per generated token (for a mixture of experts: the shared weights plus the active experts' share; the token embedding counts one row unless the output reuses it). KV-cache reads are not counted, so the bound is optimistic. Bandwidth: {}.</p>\n", escape(&first.bandwidth.source))?;
    let rows: Vec<Vec<String>> = run
        .summary
        .roofline
        .iter()
        .map(|r| {
            vec![
                td(&r.group),
                td_num(&format!("{:.1}", r.bytes_per_token as f64 / 1e6)),
                td_num(&format!("{:.0}", r.bound_tok_s)),
                td_num(&super::quantile_text(Some(&r.decode), 1.0)),
                td_num(&crate::roofline::percent_text(r)),
            ]
        })
        .collect();
    table(
        page,
        &[
            "group",
            "MB per token",
            "bound tok/s",
            "decode tok/s (median)",
            "of the bound",
        ],
        &rows,
    );
    Ok(())
}
