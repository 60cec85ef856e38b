//! What a chart draws of a long run: no more points than a screen can show, so the page stays a
//! few megabytes whatever the number of generations and tokens. Each reduction here is stated on
//! the page beside its chart; the exact values stay in `generations.jsonl` and `generations.csv`.

/// Points per CDF line: quantiles evenly spaced in probability, more than the plot is wide in
/// pixels of height, so the drawn curve is the exact one at screen resolution.
pub const CDF_POINTS: usize = 400;

/// Points per token timeline: about one per horizontal pixel of the plot.
pub const TIMELINE_POINTS: usize = 800;

/// The probabilities a CDF is drawn at: 0 and [`CDF_POINTS`] steps up to `upto`.
pub fn cdf_probabilities(upto: f64) -> Vec<f64> {
    (0..=CDF_POINTS).map(|i| upto * i as f64 / CDF_POINTS as f64).collect()
}

/// A timeline (points in time order) reduced to its first point, every `stride`-th point and
/// its last, at most about [`TIMELINE_POINTS`]; returns the points and the stride (1: all kept).
pub fn timeline(points: &[(f64, f64)]) -> (Vec<(f64, f64)>, usize) {
    let stride = points.len().div_ceil(TIMELINE_POINTS).max(1);
    let mut kept: Vec<(f64, f64)> = points.iter().step_by(stride).copied().collect();
    if let Some(last) = points.last().filter(|_| !(points.len() - 1).is_multiple_of(stride)) {
        kept.push(*last);
    }
    (kept, stride)
}

/// Dots that would be drawn on the same pixel row drawn once: the values, one per distinct
/// `pixel(value)`, in their first-seen order.
pub fn one_per_pixel(values: impl IntoIterator<Item = f64>, pixel: impl Fn(f64) -> i64) -> Vec<f64> {
    let mut seen = std::collections::HashSet::new();
    values.into_iter().filter(|v| seen.insert(pixel(*v))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_timeline_keeps_its_ends_and_a_regular_stride() {
        let points: Vec<(f64, f64)> = (0..2001).map(|i| (i as f64, i as f64)).collect();
        let (kept, stride) = timeline(&points);
        assert_eq!(stride, 3);
        assert!(kept.len() <= TIMELINE_POINTS + 1, "{}", kept.len());
        assert_eq!((kept[0], *kept.last().unwrap()), (points[0], points[2000]));
        let short: Vec<(f64, f64)> = points[..10].to_vec();
        assert_eq!(timeline(&short), (short.clone(), 1));
    }

    #[test]
    fn dots_on_one_pixel_are_drawn_once() {
        assert_eq!(
            one_per_pixel([1.0, 1.2, 2.0, 2.9, 7.0], |v| v.floor() as i64),
            vec![1.0, 2.0, 7.0]
        );
        assert_eq!(cdf_probabilities(0.99).len(), CDF_POINTS + 1);
    }
}
