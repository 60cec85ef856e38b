//! Unit tests of `charts`.

use super::*;

fn p(v: f64) -> Option<Point> {
    Some(Point {
        value: v,
        lower: v * 0.9,
        upper: v * 1.1,
    })
}

/// A decode-rate bar chart of `series` over the category `slots`.
fn decode_bars(slots: &[String], series: &[Series<Vec<Option<Point>>>]) -> String {
    let axes = Axes {
        title: "Decode rate",
        x: "category",
        y: "tok/s",
    };
    grouped_bars(&axes, slots, series).unwrap()
}

#[test]
fn bars_draw_one_svg_with_every_label_and_legend_entry() {
    let slots: Vec<String> = ["short", "code", "long"].map(String::from).to_vec();
    let series: Vec<_> = (0..8)
        .map(|i| Series {
            name: format!("minimax/quant-{i}"),
            colour: colour(i),
            values: vec![p(10.0 + i as f64), None, p(30.0)],
        })
        .collect();
    let svg = decode_bars(&slots, &series);
    assert_eq!(svg.matches("<svg").count(), 1);
    for label in [
        "short",
        "code",
        "long",
        "minimax/quant-0",
        "minimax/quant-7",
        "Decode rate",
        "tok/s",
    ] {
        assert!(svg.contains(label), "{label} missing");
    }
}

#[test]
fn text_in_charts_is_escaped() {
    let series = vec![
        Series {
            name: "<script>alert(1)</script>\"".into(),
            colour: colour(0),
            values: vec![(0.0, 0.0), (1.0, 1.0)],
        },
        Series {
            name: "b".into(),
            colour: colour(1),
            values: vec![],
        },
    ];
    let svg = lines(
        &Axes {
            title: "t<b>",
            x: "x",
            y: "y",
        },
        &series,
        true,
    )
    .unwrap();
    assert!(!svg.contains("<script>") && !svg.contains("t<b>"), "{svg}");
}

#[test]
fn compact_numbers() {
    assert_eq!(compact(0.0), "0");
    assert_eq!(compact(132.4), "132");
    assert_eq!(compact(12.34), "12.3");
    assert_eq!(compact(0.0123), "0.0123");
    assert_eq!(compact(25_000.0), "25k");
    assert_eq!(crate::stats::quantile_type7(&[1.0, 2.0, 3.0, 4.0], 0.5), 2.5);
}

/// The `<text>` elements of an SVG that read as numbers (tick labels).
fn numeric_labels(svg: &str) -> Vec<f64> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| t.split_once('>')?.1.split_once("</text>")?.0.trim().parse().ok())
        .collect()
}

#[test]
fn a_group_without_data_has_no_bar_slot_and_no_legend_entry() {
    let slots: Vec<String> = ["short"].map(String::from).to_vec();
    let series = vec![
        Series {
            name: "smollm2/q4_1".into(),
            colour: colour(0),
            values: vec![p(100.0)],
        },
        Series {
            name: "smollm2/failed".into(),
            colour: colour(1),
            values: vec![None],
        },
        Series {
            name: "smollm2/q8_0".into(),
            colour: colour(2),
            values: vec![p(90.0)],
        },
    ];
    let svg = decode_bars(&slots, &series);
    assert!(
        svg.contains("smollm2/q4_1") && svg.contains("smollm2/q8_0") && !svg.contains("smollm2/failed"),
        "{svg}"
    );
    let boxes = vec![
        Series {
            name: "smollm2/q4_1".into(),
            colour: colour(0),
            values: vec![vec![0.1, 0.2]],
        },
        Series {
            name: "smollm2/failed".into(),
            colour: colour(1),
            values: vec![vec![]],
        },
    ];
    let svg = grouped_boxes(
        &Axes {
            title: "TTFT",
            x: "category",
            y: "s",
        },
        &slots,
        &boxes,
    )
    .unwrap();
    assert!(!svg.contains("smollm2/failed"), "{svg}");
}

#[test]
fn a_narrow_log_axis_still_has_labelled_ticks() {
    // TTFT from 150 to 190 ms: less than a decade, where plotters' own log axis labels nothing.
    let slots: Vec<String> = ["short"].map(String::from).to_vec();
    let values: Vec<f64> = (0..10).map(|i| 150.0 + 4.0 * i as f64).collect();
    let series = vec![
        Series {
            name: "a".into(),
            colour: colour(0),
            values: vec![values.clone()],
        },
        Series {
            name: "b".into(),
            colour: colour(1),
            values: vec![values],
        },
    ];
    let svg = grouped_boxes(
        &Axes {
            title: "TTFT",
            x: "category",
            y: "ms",
        },
        &slots,
        &series,
    )
    .unwrap();
    let ticks: Vec<f64> = numeric_labels(&svg)
        .into_iter()
        .filter(|v| (100.0..=285.0).contains(v))
        .collect();
    assert!(ticks.len() >= 3, "labelled ticks {ticks:?} in {svg}");
}
