//! Charts as inline SVG, drawn with plotters' SVG backend. No font files are involved: plotters
//! estimates text widths for layout and the browser renders the `<text>` elements.
//!
//! Each function takes plain values (names, points with intervals, samples) and returns one
//! `<svg>` element; what to plot is decided by the report, not here. Every chart has a title,
//! axis descriptions with units and, when it has several series, a legend in its own panel
//! right of the plot so no label is drawn over data.

use anyhow::Result;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

/// Tableau 10: distinguishable, and readable for the common colour-vision deficiencies.
const PALETTE: [(u8, u8, u8); 10] = [
    (0x4e, 0x79, 0xa7),
    (0xf2, 0x8e, 0x2b),
    (0xe1, 0x57, 0x59),
    (0x76, 0xb7, 0xb2),
    (0x59, 0xa1, 0x4f),
    (0xed, 0xc9, 0x48),
    (0xb0, 0x7a, 0xa1),
    (0xff, 0x9d, 0xa7),
    (0x9c, 0x75, 0x5f),
    (0xba, 0xb0, 0xac),
];

/// The colour of series `i`; the report gives each group one index for the whole page.
pub fn colour(i: usize) -> RGBColor {
    let (r, g, b) = PALETTE[i % PALETTE.len()];
    RGBColor(r, g, b)
}

/// The same colour as CSS, for HTML legends and table swatches.
pub fn css_colour(i: usize) -> String {
    let (r, g, b) = PALETTE[i % PALETTE.len()];
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// Title and axis descriptions (with units) of a chart.
pub struct Axes<'a> {
    pub title: &'a str,
    pub x: &'a str,
    pub y: &'a str,
}

/// A named, coloured series of values of type `T`.
pub struct Series<T> {
    pub name: String,
    pub colour: RGBColor,
    pub values: T,
}

/// A value with its 95 % interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub value: f64,
    pub lower: f64,
    pub upper: f64,
}

const WIDTH: u32 = 1000;
const HEIGHT: u32 = 380;
const LEGEND_WIDTH: u32 = 230;
const FONT: &str = "sans-serif";

type Chart<'a, 'b, Y> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, Y>>;

/// Renders `draw` onto a fresh SVG of the given height, with the legend panel when `legend` has
/// entries, and returns the SVG text.
fn svg(
    height: u32,
    legend: &[(&str, RGBColor)],
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, plotters::coord::Shift>) -> Result<()>,
) -> Result<String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let plot = if legend.len() > 1 {
            let (plot, panel) = root.split_horizontally(WIDTH - LEGEND_WIDTH);
            draw_legend(&panel, legend)?;
            plot
        } else {
            root.clone()
        };
        draw(&plot)?;
        root.present()?;
    }
    Ok(out)
}

fn draw_legend(
    panel: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    entries: &[(&str, RGBColor)],
) -> Result<()> {
    let row = 18;
    for (i, (name, colour)) in entries.iter().enumerate() {
        let y = 44 + i as i32 * row;
        panel.draw(&Rectangle::new([(6, y), (20, y + 12)], colour.filled()))?;
        panel.draw(&Text::new(shorten(name, 30), (26, y), (FONT, 13).into_font()))?;
    }
    Ok(())
}

/// Cuts a label to `max` characters (legends and axis labels have a fixed width).
fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut cut: String = s.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

/// The axis of a chart of named slots: slot `i` is centred on the integer `i`, where plotters
/// puts its ticks when asked for one label per slot.
fn slot_axis(slots: usize) -> std::ops::Range<f64> {
    -0.5..slots.max(1) as f64 - 0.5
}

/// The label of the slot at tick `x`; ticks between slots get none.
fn slot_label(labels: &[String], x: f64, max: usize) -> String {
    let i = x.round();
    if (x - i).abs() > 1e-6 || i < 0.0 {
        return String::new();
    }
    labels.get(i as usize).map(|l| shorten(l, max)).unwrap_or_default()
}

/// The (left, right) x extent of series `j` of `k` within slot `i`.
fn bar_extent(i: usize, j: usize, k: usize) -> (f64, f64) {
    let width = 0.8 / k as f64;
    let left = i as f64 - 0.4 + j as f64 * width;
    (left + width * 0.08, left + width * 0.92)
}

/// The series with something to draw: a group without data gets no bar slot and no legend entry
/// (the page says once why it has none).
fn with_data<T>(series: &[Series<T>], has_data: impl Fn(&T) -> bool) -> Vec<&Series<T>> {
    series.iter().filter(|s| has_data(&s.values)).collect()
}

fn legend<'a, T>(series: &[&'a Series<T>]) -> Vec<(&'a str, RGBColor)> {
    series.iter().map(|s| (s.name.as_str(), s.colour)).collect()
}

/// The value axis' top for values with intervals: 10 % above the highest upper bound.
fn interval_top(series: &[&Series<Vec<Option<Point>>>]) -> f64 {
    let uppers = series
        .iter()
        .flat_map(|s| s.values.iter().flatten().map(|p| p.upper.max(p.value)));
    finite_max(uppers).unwrap_or(1.0).max(f64::MIN_POSITIVE) * 1.1
}

fn finite_max(values: impl Iterator<Item = f64>) -> Option<f64> {
    values
        .filter(|v| v.is_finite())
        .fold(None, |m, v| Some(m.map_or(v, |m: f64| m.max(v))))
}

/// Grouped bars with 95 % interval whiskers: one slot per label (e.g. a prompt category), one
/// bar per series (e.g. a group) in each slot; a missing value leaves a gap.
pub fn grouped_bars(axes: &Axes<'_>, slots: &[String], series: &[Series<Vec<Option<Point>>>]) -> Result<String> {
    let series = with_data(series, |v| v.iter().any(Option::is_some));
    let top = interval_top(&series);
    let legend = legend(&series);
    svg(HEIGHT, &legend, |area| {
        let mut chart = frame(area, axes, slot_axis(slots.len()), 0.0..top, 60)?;
        mesh(&mut chart, axes, slots.len(), &|x| slot_label(slots, *x, 18), &|y| {
            compact(*y)
        })?;
        let k = series.len();
        for (j, s) in series.iter().enumerate() {
            let bars = s
                .values
                .iter()
                .enumerate()
                .filter_map(|(i, p)| p.map(|p| (bar_extent(i, j, k), p)));
            chart.draw_series(
                bars.clone()
                    .map(|((x0, x1), p)| Rectangle::new([(x0, 0.0), (x1, p.value)], s.colour.filled())),
            )?;
            chart.draw_series(bars.map(|((x0, x1), p)| {
                ErrorBar::new_vertical((x0 + x1) / 2.0, p.lower, p.value, p.upper, BLACK.stroke_width(1), 5)
            }))?;
        }
        Ok(())
    })
}

/// One bar per label, each in its own colour (e.g. one per group): for values measured once per
/// group, such as load time. A missing value leaves its slot empty.
pub fn labelled_bars(axes: &Axes<'_>, bars: &[(String, Option<f64>, RGBColor)]) -> Result<String> {
    let top = finite_max(bars.iter().filter_map(|(_, v, _)| *v))
        .unwrap_or(1.0)
        .max(f64::MIN_POSITIVE)
        * 1.1;
    let labels: Vec<String> = bars.iter().map(|(l, _, _)| l.clone()).collect();
    svg(HEIGHT, &[], |area| {
        let mut chart = frame(area, axes, slot_axis(bars.len()), 0.0..top, 60)?;
        mesh(&mut chart, axes, bars.len(), &|x| slot_label(&labels, *x, 18), &|y| {
            compact(*y)
        })?;
        chart.draw_series(bars.iter().enumerate().filter_map(|(i, (_, v, colour))| {
            v.map(|v| Rectangle::new([(i as f64 - 0.3, 0.0), (i as f64 + 0.3, v)], colour.filled()))
        }))?;
        Ok(())
    })
}

/// Box plots of samples on a logarithmic value axis (latencies span orders of magnitude across
/// categories): box = quartiles, line = median, whiskers to the most extreme values within
/// 1.5 IQR, dots beyond. Non-positive values cannot be placed on the axis and are left out.
pub fn grouped_boxes(axes: &Axes<'_>, slots: &[String], series: &[Series<Vec<Vec<f64>>>]) -> Result<String> {
    let series = with_data(series, |v| v.iter().flatten().any(|x| *x > 0.0 && x.is_finite()));
    let all = || {
        series
            .iter()
            .flat_map(|s| s.values.iter().flatten().copied())
            .filter(|v| *v > 0.0 && v.is_finite())
    };
    let (lo, hi) = (all().fold(f64::INFINITY, f64::min), all().fold(0.0, f64::max));
    let (lo, hi) = if lo.is_finite() && hi > 0.0 {
        (lo / 1.5, hi * 1.5)
    } else {
        (0.001, 1.0)
    };
    let legend = legend(&series);
    // The log axis is a linear axis of log10 values labelled with the values, so that it has
    // labelled ticks however narrow the range (plotters labels only powers of ten on its own).
    let log = |v: f64| v.log10();
    svg(HEIGHT, &legend, |area| {
        let mut chart = frame(area, axes, slot_axis(slots.len()), log(lo)..log(hi), 60)?;
        mesh(&mut chart, axes, slots.len(), &|x| slot_label(slots, *x, 18), &|y| {
            compact(10f64.powf(*y))
        })?;
        let k = series.len();
        for (j, s) in series.iter().enumerate() {
            for (i, values) in s.values.iter().enumerate() {
                let mut v: Vec<f64> = values.iter().copied().filter(|v| *v > 0.0 && v.is_finite()).collect();
                if v.is_empty() {
                    continue;
                }
                v.sort_by(f64::total_cmp);
                let (x0, x1) = bar_extent(i, j, k);
                let mid = (x0 + x1) / 2.0;
                let q = |p: f64| crate::stats::quantile_type7(&v, p);
                let (q1, q2, q3) = (q(0.25), q(0.5), q(0.75));
                let fence = (q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1));
                let inside = v.iter().copied().filter(|x| *x >= fence.0 && *x <= fence.1);
                let (w_lo, w_hi) = (inside.clone().fold(q1, f64::min), inside.fold(q3, f64::max));
                let (q1, q2, q3, w_lo, w_hi) = (log(q1), log(q2), log(q3), log(w_lo), log(w_hi));
                let line = s.colour.stroke_width(1);
                chart.draw_series([
                    PathElement::new(vec![(mid, w_lo), (mid, q1)], line),
                    PathElement::new(vec![(mid, q3), (mid, w_hi)], line),
                ])?;
                chart.draw_series([
                    Rectangle::new([(x0, q1), (x1, q3)], s.colour.mix(0.35).filled()),
                    Rectangle::new([(x0, q1), (x1, q3)], line),
                ])?;
                chart.draw_series([PathElement::new(vec![(x0, q2), (x1, q2)], BLACK.stroke_width(2))])?;
                // Beyond the whiskers, one dot per pixel row: a long run has thousands there.
                let row = |x: f64| ((x.ln() - lo.ln()) / (hi.ln() - lo.ln()) * f64::from(HEIGHT)).round() as i64;
                let beyond = v.iter().copied().filter(|x| *x < fence.0 || *x > fence.1);
                let beyond = super::thinning::one_per_pixel(beyond, row);
                chart.draw_series(
                    beyond
                        .into_iter()
                        .map(|x| Circle::new((mid, log(x)), 2, s.colour.filled())),
                )?;
            }
        }
        Ok(())
    })
}

/// Lines through (x, y) points, e.g. a CDF or a token timeline. `steps` draws each series as a
/// staircase (a value holds until the next point).
pub fn lines(axes: &Axes<'_>, series: &[Series<Vec<(f64, f64)>>], steps: bool) -> Result<String> {
    lines_marked(axes, series, steps, &[])
}

/// As [`lines`], with dots at marked points of each series (e.g. a CDF's exact p50 and p99).
pub fn lines_marked(
    axes: &Axes<'_>,
    series: &[Series<Vec<(f64, f64)>>],
    steps: bool,
    marks: &[Series<Vec<(f64, f64)>>],
) -> Result<String> {
    let series = with_data(series, |v| !v.is_empty());
    let points = || {
        series
            .iter()
            .flat_map(|s| s.values.iter().copied())
            .filter(|(x, y)| x.is_finite() && y.is_finite())
    };
    let x_max = finite_max(points().map(|(x, _)| x))
        .unwrap_or(1.0)
        .max(f64::MIN_POSITIVE);
    let y_max = finite_max(points().map(|(_, y)| y))
        .unwrap_or(1.0)
        .max(f64::MIN_POSITIVE);
    let legend = legend(&series);
    svg(HEIGHT, &legend, |area| {
        let mut chart = linear(area, axes, 0.0..x_max * 1.02, 0.0..y_max * 1.05)?;
        for s in &series {
            let path: Vec<(f64, f64)> = if steps {
                s.values
                    .windows(2)
                    .flat_map(|w| [w[0], (w[1].0, w[0].1)])
                    .chain(s.values.last().copied())
                    .collect()
            } else {
                s.values.clone()
            };
            chart.draw_series(LineSeries::new(path, s.colour.stroke_width(2)))?;
        }
        for m in marks {
            chart.draw_series(m.values.iter().map(|p| Circle::new(*p, 4, m.colour.filled())))?;
            chart.draw_series(m.values.iter().map(|p| Circle::new(*p, 4, BLACK.stroke_width(1))))?;
        }
        Ok(())
    })
}

/// Values with intervals over an ordered sequence of labelled steps (runs in time), one line
/// per series: the "did the upgrade hurt" view.
pub fn trend(axes: &Axes<'_>, steps: &[String], series: &[Series<Vec<Option<Point>>>]) -> Result<String> {
    let series = with_data(series, |v| v.iter().any(Option::is_some));
    let top = interval_top(&series);
    let legend = legend(&series);
    svg(HEIGHT, &legend, |area| {
        let mut chart = frame(area, axes, slot_axis(steps.len()), 0.0..top, 60)?;
        // Many runs: label only as many steps as fit.
        mesh(
            &mut chart,
            axes,
            steps.len().min(12),
            &|x| slot_label(steps, *x, 16),
            &|y| compact(*y),
        )?;
        for s in &series {
            let points: Vec<(f64, Point)> = s
                .values
                .iter()
                .enumerate()
                .filter_map(|(i, p)| p.map(|p| (i as f64, p)))
                .collect();
            chart.draw_series(LineSeries::new(
                points.iter().map(|(x, p)| (*x, p.value)),
                s.colour.stroke_width(2),
            ))?;
            chart.draw_series(
                points
                    .iter()
                    .map(|(x, p)| ErrorBar::new_vertical(*x, p.lower, p.value, p.upper, s.colour.stroke_width(1), 6)),
            )?;
            chart.draw_series(
                points
                    .iter()
                    .map(|(x, p)| Circle::new((*x, p.value), 3, s.colour.filled())),
            )?;
        }
        Ok(())
    })
}

/// How a scatter's x axis maps values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum XAxis {
    Linear(f64, f64),
    /// Logarithmic between two positive bounds: for measures spanning decades (a divergence);
    /// values ≤ 0 cannot be placed and are left out.
    Log(f64, f64),
}

/// One point per series at (x, y), with interval bars in both directions: e.g. speed against
/// answer quality, where up and to the right is better.
pub fn scatter(axes: &Axes<'_>, x_axis: XAxis, points: &[Series<(Point, Point)>]) -> Result<String> {
    let top = finite_max(points.iter().map(|s| s.values.1.upper.max(s.values.1.value)))
        .unwrap_or(1.0)
        .max(f64::MIN_POSITIVE)
        * 1.1;
    // A log axis is drawn as a linear axis of log10 values, labelled with the values.
    let (to_x, x_range): (fn(f64) -> f64, _) = match x_axis {
        XAxis::Linear(lo, hi) => (|v| v, lo..hi),
        XAxis::Log(lo, hi) => (
            |v: f64| if v > 0.0 { v.log10() } else { f64::NEG_INFINITY },
            lo.log10()..hi.log10(),
        ),
    };
    let points: Vec<&Series<(Point, Point)>> = points.iter().filter(|s| to_x(s.values.0.value).is_finite()).collect();
    let legend: Vec<(&str, RGBColor)> = points.iter().map(|s| (s.name.as_str(), s.colour)).collect();
    let x_label = move |x: &f64| {
        if matches!(x_axis, XAxis::Log(..)) {
            compact(10f64.powf(*x))
        } else {
            compact(*x)
        }
    };
    svg(HEIGHT + 60, &legend, |area| {
        let mut chart = linear_labelled(area, axes, x_range.clone(), 0.0..top, &x_label)?;
        for s in points {
            let (x, y) = s.values;
            let x = Point {
                value: to_x(x.value),
                lower: to_x(x.lower).max(x_range.start),
                upper: to_x(x.upper),
            };
            let style = s.colour.stroke_width(2);
            chart.draw_series([ErrorBar::new_horizontal(y.value, x.lower, x.value, x.upper, style, 8)])?;
            chart.draw_series([ErrorBar::new_vertical(x.value, y.lower, y.value, y.upper, style, 8)])?;
            chart.draw_series([Circle::new((x.value, y.value), 5, s.colour.filled())])?;
        }
        Ok(())
    })
}

/// A forest plot of ratios with intervals, one row each, against 1 (no change) and the shaded
/// ±`noise` band within which a change counts as noise.
pub fn forest(axes: &Axes<'_>, rows: &[(String, Point, RGBColor)], noise: f64) -> Result<String> {
    let lo = rows
        .iter()
        .map(|(_, p, _)| p.lower)
        .filter(|v| v.is_finite())
        .fold(1.0 - noise, f64::min);
    let hi = rows
        .iter()
        .map(|(_, p, _)| p.upper)
        .filter(|v| v.is_finite())
        .fold(1.0 + noise, f64::max);
    let pad = (hi - lo) * 0.08;
    let labels: Vec<String> = rows.iter().map(|(l, _, _)| l.clone()).collect();
    let label_width = labels.iter().map(|l| l.chars().count().min(40)).max().unwrap_or(4) as u32 * 7 + 12;
    let height = 90 + 18 * rows.len().max(1) as u32;
    svg(height, &[], |area| {
        let mut chart = ChartBuilder::on(area)
            .caption(axes.title, (FONT, 17))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(label_width)
            .build_cartesian_2d(lo - pad..hi + pad, slot_axis(rows.len()))?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_desc(axes.x)
            .y_desc(axes.y)
            .y_labels(rows.len())
            .y_label_formatter(&|y| slot_label(&labels, *y, 40))
            .x_label_formatter(&|x| format!("{x:.2}"))
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 13))
            .draw()?;
        let (top, bottom) = (-0.5, rows.len().max(1) as f64 - 0.5);
        chart.draw_series([Rectangle::new(
            [(1.0 - noise, top), (1.0 + noise, bottom)],
            RGBColor(0xdd, 0xdd, 0xdd).mix(0.5).filled(),
        )])?;
        chart.draw_series([PathElement::new(vec![(1.0, top), (1.0, bottom)], BLACK.stroke_width(1))])?;
        for (i, (_, p, colour)) in rows.iter().enumerate() {
            let y = i as f64;
            chart.draw_series([ErrorBar::new_horizontal(
                y,
                p.lower,
                p.value,
                p.upper,
                colour.stroke_width(2),
                6,
            )])?;
            chart.draw_series([Circle::new((p.value, y), 3, colour.filled())])?;
        }
        Ok(())
    })
}

/// A chart with linear x and y axes and its labelled mesh.
fn linear<'a, 'b>(
    area: &'a DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
    axes: &Axes<'_>,
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
) -> Result<Chart<'a, 'b, RangedCoordf64>> {
    linear_labelled(area, axes, x, y, &|x| compact(*x))
}

/// As `linear`, with x tick labels from `x_label`.
fn linear_labelled<'a, 'b>(
    area: &'a DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
    axes: &Axes<'_>,
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
    x_label: &dyn Fn(&f64) -> String,
) -> Result<Chart<'a, 'b, RangedCoordf64>> {
    let mut chart = ChartBuilder::on(area)
        .caption(axes.title, (FONT, 17))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(x, y)?;
    chart
        .configure_mesh()
        .x_desc(axes.x)
        .y_desc(axes.y)
        .x_label_formatter(x_label)
        .y_label_formatter(&|y| compact(*y))
        .label_style((FONT, 12))
        .axis_desc_style((FONT, 13))
        .draw()?;
    Ok(chart)
}

/// The common frame of slot charts: caption, margins and label areas.
fn frame<'a, 'b, Y: Ranged<ValueType = f64>>(
    area: &'a DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
    axes: &Axes<'_>,
    x: std::ops::Range<f64>,
    y: impl plotters::coord::ranged1d::AsRangedCoord<CoordDescType = Y, Value = f64>,
    y_label_area: u32,
) -> Result<Chart<'a, 'b, Y>> {
    Ok(ChartBuilder::on(area)
        .caption(axes.title, (FONT, 17))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(y_label_area)
        .build_cartesian_2d(x, y)?)
}

/// Axis descriptions and labels; `x_ticks` is how many x labels to aim for (one per slot).
fn mesh<Y: Ranged<ValueType = f64> + ValueFormatter<f64>>(
    chart: &mut Chart<'_, '_, Y>,
    axes: &Axes<'_>,
    x_ticks: usize,
    x_label: &dyn Fn(&f64) -> String,
    y_label: &dyn Fn(&f64) -> String,
) -> Result<()> {
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(x_ticks.max(1))
        .y_labels(8)
        .x_desc(axes.x)
        .y_desc(axes.y)
        .x_label_formatter(x_label)
        .y_label_formatter(y_label)
        .label_style((FONT, 12))
        .axis_desc_style((FONT, 13))
        .draw()?;
    Ok(())
}

/// A short number for axis ticks: 3 significant digits, no trailing zeros, k/M for large values.
pub fn compact(v: f64) -> String {
    let a = v.abs();
    let (scaled, suffix) = if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e4 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let digits = if scaled.abs() >= 100.0 || scaled == 0.0 {
        0
    } else if scaled.abs() >= 10.0 {
        1
    } else if scaled.abs() >= 1.0 {
        2
    } else {
        (-(scaled.abs().log10().floor()) as usize + 2).min(6)
    };
    let text = format!("{scaled:.digits$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    };
    format!("{text}{suffix}")
}

#[cfg(test)]
mod tests;
