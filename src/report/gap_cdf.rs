//! The inter-token gap CDF of the page: per group, every gap of its measured samples, drawn from
//! quantiles of all of them (see `report::thinning`) with the exact p50, p99 and maximum beside.

use super::charts::{self, Axes, Series};
use super::markup::{table, td_num};
use super::{thinning, RunData};
use crate::gap_distribution::GapDistribution;
use anyhow::Result;
use std::fmt::Write;

/// The CDF (one network read can deliver two events: their zero gap is kept — the CDF starts
/// above 0 then) up to p99, with dots at each group's p50 and p99, and a table of the exact p50,
/// p99 and maximum below it; `swatch` names a group as the rest of the page does.
pub fn write(page: &mut String, run: &RunData, swatch: &dyn Fn(&str) -> String) -> Result<()> {
    let colour = |g: &str| charts::colour(run.groups().iter().position(|x| *x == g).unwrap_or(0));
    let groups: Vec<(&String, &GapDistribution)> = run.gaps.iter().filter(|(_, d)| !d.is_empty()).collect();
    let series = |ps: &[f64]| -> Vec<Series<Vec<(f64, f64)>>> {
        let points = |d: &GapDistribution| {
            d.quantiles_us(ps)
                .iter()
                .zip(ps)
                .map(|(us, p)| (us / 1e3, *p))
                .collect()
        };
        groups
            .iter()
            .map(|(g, d)| Series {
                name: g.to_string(),
                colour: colour(g),
                values: points(d),
            })
            .collect()
    };
    // The top 1 % would stretch the axis over a handful of points.
    let (cdfs, marks) = (series(&thinning::cdf_probabilities(0.99)), series(&[0.5, 0.99]));
    let axes = Axes {
        title: "Inter-token gaps, all samples of each group (up to p99; dots: p50 and p99)",
        x: "gap between token events, ms",
        y: "fraction of gaps ≤ x",
    };
    page.push_str(&charts::lines_marked(&axes, &cdfs, false, &marks)?);
    let ms = |us: Option<f64>| us.map_or("–".into(), |us| super::num(us / 1e3));
    let rows: Vec<Vec<String>> = groups
        .iter()
        .map(|(g, d)| {
            vec![
                format!("<td>{}</td>", swatch(g)),
                td_num(&d.len().to_string()),
                td_num(&ms(d.quantile_us(0.5))),
                td_num(&ms(d.quantile_us(0.99))),
                td_num(&ms(d.max_us().map(|us| us as f64))),
            ]
        })
        .collect();
    table(page, &["group", "gaps", "p50 ms", "p99 ms", "max ms"], &rows);
    writeln!(
        page,
        "<p class=\"small\">Each line is drawn from {} quantiles of all the group's gaps (exact, from a count per \
         microsecond value); p50, p99 and the maximum above are exact. Every gap is in generations.jsonl.</p>",
        thinning::CDF_POINTS + 1
    )?;
    Ok(())
}
