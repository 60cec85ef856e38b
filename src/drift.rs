//! Did the machine's speed change during a benchmark? The Mann–Kendall trend test on the samples
//! in the order they ran, with Sen's slope and its distribution-free interval (Gilbert 1987,
//! §16.5) as the size of the change per sample.
//!
//! Mann–Kendall needs no distribution and no linearity: S = Σ_{i<j} sign(x_j − x_i) counts
//! increasing minus decreasing pairs. Without ties its exact null distribution is that of
//! Kendall's statistic (permutations by inversion count), used for n ≤ 60; with ties or more
//! samples, the normal approximation with the tie-corrected variance and a continuity
//! correction. Pure functions; `None` for fewer than [`MIN_SAMPLES`] samples.

use crate::stats::{Estimate, Interval};
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};

/// Below this the test cannot reach p < 0.05 (n = 4: the smallest two-sided p is 1/12).
pub const MIN_SAMPLES: usize = 5;
/// A trend is flagged at this two-sided significance level.
pub const ALPHA: f64 = 0.05;
const EXACT_MAX_N: usize = 60;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    /// The metric tested (decode rate), in sample order.
    pub metric: String,
    pub n: usize,
    /// Mann–Kendall S and Kendall's τ = S / (n(n−1)/2).
    pub s: i64,
    pub tau: f64,
    /// Two-sided p-value; `exact` tells the exact distribution from the normal approximation.
    pub p_value: f64,
    pub exact: bool,
    /// Sen's slope per sample relative to the median (−0.01 = 1 % slower each sample), with
    /// its 95 % interval.
    pub change_per_sample: Estimate,
    /// p < ALPHA: the speed changed steadily during the benchmark.
    pub flagged: bool,
}

/// Tests `values` (in the order they were measured) for a monotonic trend.
pub fn test(metric: &str, values: &[f64]) -> Option<Drift> {
    let x: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    let n = x.len();
    if n < MIN_SAMPLES || n != values.len() {
        return None;
    }
    let mut s = 0i64;
    let mut slopes = Vec::with_capacity(n * (n - 1) / 2);
    for i in 0..n {
        for j in i + 1..n {
            s += (x[j] - x[i]).partial_cmp(&0.0).map_or(0, |o| o as i64);
            slopes.push((x[j] - x[i]) / (j - i) as f64);
        }
    }
    let pairs = (n * (n - 1) / 2) as f64;
    let variance = variance_of_s(&x);
    let ties = variance < (n * (n - 1) * (2 * n + 5)) as f64 / 18.0;
    let exact = !ties && n <= EXACT_MAX_N;
    let p_value = if exact { exact_p(n, s) } else { normal_p(s, variance) };
    let median = crate::stats::quantile_ci(&x, 0.5, 0.95)?.point;
    slopes.sort_by(f64::total_cmp);
    let sen = middle(&slopes);
    // Gilbert's interval: ranks (N' ∓ z·√Var S) / 2 of the ordered pairwise slopes.
    let z = Normal::standard().inverse_cdf(1.0 - ALPHA / 2.0);
    let c = z * variance.sqrt();
    let (lower_rank, upper_rank) = (((pairs - c) / 2.0).round(), ((pairs + c) / 2.0).round() + 1.0);
    let interval = (lower_rank >= 1.0 && upper_rank <= pairs).then(|| Interval {
        lower: slopes[lower_rank as usize - 1] / median,
        upper: slopes[upper_rank as usize - 1] / median,
        level: 1.0 - ALPHA,
    });
    Some(Drift {
        metric: metric.into(),
        n,
        s,
        tau: s as f64 / pairs,
        p_value,
        exact,
        change_per_sample: Estimate {
            point: sen / median,
            interval,
        },
        flagged: p_value < ALPHA,
    })
}

fn middle(sorted: &[f64]) -> f64 {
    let m = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[m]
    } else {
        (sorted[m - 1] + sorted[m]) / 2.0
    }
}

/// Var(S) = [n(n−1)(2n+5) − Σ t(t−1)(2t+5)] / 18 over groups of t tied values.
fn variance_of_s(x: &[f64]) -> f64 {
    let mut sorted = x.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = x.len() as f64;
    let mut ties = 0.0;
    let mut i = 0;
    while i < sorted.len() {
        let t = sorted[i..].iter().take_while(|v| **v == sorted[i]).count() as f64;
        ties += t * (t - 1.0) * (2.0 * t + 5.0);
        i += t as usize;
    }
    (n * (n - 1.0) * (2.0 * n + 5.0) - ties) / 18.0
}

fn normal_p(s: i64, variance: f64) -> f64 {
    if s == 0 || variance <= 0.0 {
        return 1.0;
    }
    let z = (s.abs() as f64 - 1.0) / variance.sqrt();
    (2.0 * (1.0 - Normal::standard().cdf(z))).min(1.0)
}

/// P(|S| ≥ |s|) under no trend and no ties: S = N' − 2·inversions, and the number of
/// permutations of n with k inversions follows the Mahonian recurrence.
fn exact_p(n: usize, s: i64) -> f64 {
    let max_inversions = n * (n - 1) / 2;
    let mut counts = vec![1.0f64];
    for m in 2..=n {
        let mut next = vec![0.0; counts.len() + m - 1];
        for (k, c) in counts.iter().enumerate() {
            for slot in &mut next[k..k + m] {
                *slot += c;
            }
        }
        counts = next;
    }
    let total: f64 = counts.iter().sum();
    let extreme: f64 = (0..=max_inversions)
        .filter(|k| (max_inversions as i64 - 2 * *k as i64).abs() >= s.abs())
        .map(|k| counts[k])
        .sum();
    (extreme / total).min(1.0)
}

/// "−1.0 % per sample [−1.4, −0.6], p = 0.001" for notes and tables.
pub fn text(d: &Drift) -> String {
    let pct = |v: f64| format!("{:+.2}", v * 100.0);
    let interval = d
        .change_per_sample
        .interval
        .map_or(String::new(), |i| format!(" [{}, {}]", pct(i.lower), pct(i.upper)));
    format!(
        "{} {} % per sample{interval} over {} samples (Mann–Kendall p = {:.3})",
        d.metric.replace('_', " "),
        pct(d.change_per_sample.point),
        d.n,
        d.p_value
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_and_approximate_p_values_match_known_values() {
        // n = 5, strictly increasing: S = 10, the single most extreme of 120 orders each way.
        let d = test("decode_rate", &[1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
        assert_eq!((d.s, d.exact), (10, true));
        assert!((d.p_value - 2.0 / 120.0).abs() < 1e-12);
        assert!(d.flagged);
        // Tied values: the normal approximation with the tie correction.
        let tied = test("decode_rate", &[1.0, 1.0, 2.0, 2.0, 3.0, 3.0]).unwrap();
        assert!(!tied.exact && tied.p_value < 0.05, "{tied:?}");
        let flat = test("decode_rate", &[5.0, 3.0, 4.0, 6.0, 2.0, 5.5]).unwrap();
        assert!(!flat.flagged && flat.p_value > 0.5, "{flat:?}");
        assert_eq!(test("decode_rate", &[1.0, 2.0, 3.0, 4.0]), None);
        assert_eq!(test("decode_rate", &[1.0, 2.0, f64::NAN, 4.0, 5.0]), None);
    }

    #[test]
    fn sens_slope_is_the_relative_change_per_sample() {
        let x: Vec<f64> = (0..10).map(|i| 100.0 * (1.0 - 0.01 * i as f64)).collect();
        let d = test("decode_rate", &x).unwrap();
        // −1 per sample on a median of 95.5.
        assert!((d.change_per_sample.point - (-1.0 / 95.5)).abs() < 1e-12);
        let i = d.change_per_sample.interval.unwrap();
        assert!(i.lower <= d.change_per_sample.point && d.change_per_sample.point <= i.upper);
    }
}
