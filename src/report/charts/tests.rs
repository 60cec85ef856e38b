//! Unit tests of `charts`.

use super::*;

fn p(v: f64) -> Option<Point> {
    Some(Point {
        value: v,
        lower: v * 0.9,
        upper: v * 1.1,
    })
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
    let svg = grouped_bars(
        &Axes {
            title: "Decode rate",
            x: "category",
            y: "tok/s",
        },
        &slots,
        &series,
    )
    .unwrap();
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
