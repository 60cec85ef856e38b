//! Small-sample statistics for comparing benchmark runs.
//!
//! Runs here have 10–30 generations per arm, latencies are right-skewed and effects are
//! multiplicative, so criterion's own verdicts (mean, Welch t with a bootstrap null, 1% noise
//! threshold) are not what we report. This module holds the pure functions the summaries use
//! instead: t-intervals on logs, distribution-free quantile intervals, ratio-of-sums throughput,
//! rank tests, effect sizes and Holm's correction. Distributions and Mann–Whitney come from
//! statrs; what statrs lacks is written out here.
//!
//! Every function is total: empty input, too few values, NaN, or a parameter out of range give
//! `None` (or an empty/zero result), never a panic.

use serde::{Deserialize, Serialize};
use statrs::distribution::{Binomial, ContinuousCDF, DiscreteCDF, Normal, StudentsT};
use statrs::statistics::{Data, OrderStatistics, Statistics};
use statrs::stats_tests::mannwhitneyu::{mannwhitneyu, MannWhitneyUMethod};
use statrs::stats_tests::Alternative;

/// A two-sided confidence interval at nominal `level` (e.g. 0.95).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub lower: f64,
    pub upper: f64,
    pub level: f64,
}

/// A point estimate with its confidence interval, when one can be computed.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub point: f64,
    pub interval: Option<Interval>,
}

/// A sample quantile with a distribution-free interval from two order statistics.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuantileEstimate {
    /// The quantile's probability, in (0, 1).
    pub p: f64,
    /// Hyndman–Fan type 8 sample quantile (statrs `Data::quantile`).
    pub point: f64,
    /// `[X(l), X(u)]`; None when no pair of order statistics reaches the level.
    pub interval: Option<Interval>,
    /// Exact binomial coverage of `interval` (at least its level).
    pub coverage: Option<f64>,
    /// The 1-based ranks `(l, u)` of the order statistics bounding `interval`.
    pub order_stats: Option<(usize, usize)>,
}

/// Tukey-fence outlier counts, in criterion's order (`tukey.json`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TukeyCounts {
    pub low_severe: usize,
    pub low_mild: usize,
    pub high_mild: usize,
    pub high_severe: usize,
}

/// A ratio `candidate / baseline` from a t-test on logs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RatioTest {
    pub ratio: f64,
    pub interval: Interval,
    /// Two-sided p-value of the t-test on the logs.
    pub p_value: f64,
    /// Degrees of freedom of that t-test (Welch–Satterthwaite, or n − 1 when paired).
    pub df: f64,
}

/// Exact Mann–Whitney p-values are used, as in scipy and statrs, for tie-free samples with one
/// side of at most this size ...
const MWU_EXACT_MAX_SMALLER: usize = 8;
/// ... and at most this many possible values of U (n₁·n₂), which bounds the table's memory.
const MWU_EXACT_MAX_U: usize = 100_000;

/// Above this many degrees of freedom statrs' t quantile loses accuracy (≈1e-4 at 1e6 df) and
/// eventually never returns (1e9 df), so `t_quantile` switches to a Cornish–Fisher expansion.
const T_EXPANSION_MIN_DF: f64 = 1000.0;

/// Slack for comparing binomial probabilities, which statrs computes through the incomplete beta.
const TOLERANCE: f64 = 1e-12;

/// Student-t quantile with `df` degrees of freedom: statrs up to 1000 df, above that the
/// Cornish–Fisher expansion around the normal quantile (Abramowitz & Stegun 26.7.5, error
/// < 1e-12 there), the normal quantile for `df` = ∞. None for `df` <= 0 or NaN, or `p` outside (0, 1).
pub fn t_quantile(df: f64, p: f64) -> Option<f64> {
    if !(in_open_unit(p) && df > 0.0) {
        return None;
    }
    let q = if df > T_EXPANSION_MIN_DF {
        let z = Normal::standard().inverse_cdf(p);
        let z2 = z * z;
        let g1 = z * (z2 + 1.0) / 4.0;
        let g2 = z * ((5.0 * z2 + 16.0) * z2 + 3.0) / 96.0;
        let g3 = z * (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) / 384.0;
        let g4 = z * ((((79.0 * z2 + 776.0) * z2 + 1482.0) * z2 - 1920.0) * z2 - 945.0) / 92160.0;
        z + (g1 + (g2 + (g3 + g4 / df) / df) / df) / df
    } else {
        StudentsT::new(0.0, 1.0, df).ok()?.inverse_cdf(p)
    };
    q.is_finite().then_some(q)
}

/// Arithmetic mean with a Student-t interval (n − 1 df).
/// None for n < 2, a non-finite value, or `level` outside (0, 1).
pub fn mean_ci(x: &[f64], level: f64) -> Option<Estimate> {
    let (mean, var, n) = moments(x)?;
    let half = two_sided_t(n - 1.0, level)? * (var / n).sqrt();
    Some(Estimate {
        point: mean,
        interval: Some(Interval {
            lower: mean - half,
            upper: mean + half,
            level,
        }),
    })
}

/// Geometric mean with the t-interval of `mean_ci` computed on ln(x) and back-transformed.
/// None if any x <= 0 or is not finite, n < 2, or `level` is outside (0, 1).
pub fn geometric_mean_ci(x: &[f64], level: f64) -> Option<Estimate> {
    let logs = logs(x)?;
    let e = mean_ci(&logs, level)?;
    Some(Estimate {
        point: e.point.exp(),
        interval: e.interval.map(exp_interval),
    })
}

/// Coefficient of variation: sample standard deviation (n − 1) over the mean.
/// None for n < 2, a non-finite value, or a zero mean.
pub fn cv(x: &[f64]) -> Option<f64> {
    let (mean, var, _) = moments(x)?;
    (mean != 0.0).then(|| var.sqrt() / mean)
}

/// Quantile `p` with a distribution-free order-statistic interval `[X(l), X(u)]` (Hahn & Meeker):
/// its coverage is P(l ≤ K < u) for K ~ Binomial(n, p). Among pairs with coverage >= `level` it
/// takes the narrowest in ranks, then the one with the most equal tail probabilities
/// P(K < l) and P(K >= u), then the lower ranks. `interval` is None when no pair reaches
/// `level` (e.g. p90 at n = 20).
/// None for empty input, a NaN value, `p` outside (0, 1) or `level` outside (0, 1).
pub fn quantile_ci(x: &[f64], p: f64, level: f64) -> Option<QuantileEstimate> {
    if x.is_empty() || x.iter().any(|v| v.is_nan()) || !in_open_unit(p) || !in_open_unit(level) {
        return None;
    }
    let mut sorted = x.to_vec();
    sorted.sort_by(f64::total_cmp);
    let point = Data::new(sorted.clone()).quantile(p);
    let bounds = order_stat_bounds(sorted.len(), p, level);
    Some(QuantileEstimate {
        p,
        point,
        interval: bounds.map(|(l, u, _)| Interval {
            lower: sorted[l - 1],
            upper: sorted[u - 1],
            level,
        }),
        coverage: bounds.map(|(_, _, c)| c),
        order_stats: bounds.map(|(l, u, _)| (l, u)),
    })
}

/// The chosen `(l, u, coverage)` for `quantile_ci`, with 1 <= l < u <= n.
fn order_stat_bounds(n: usize, p: f64, level: f64) -> Option<(usize, usize, f64)> {
    let binomial = Binomial::new(p, n as u64).ok()?;
    // cdf[k] = P(K <= k) for k in 0..n; coverage of (l, u) is cdf[u - 1] - cdf[l - 1].
    let cdf: Vec<f64> = (0..n as u64).map(|k| binomial.cdf(k)).collect();
    // Tail imbalance |P(K < l) − P(K >= u)|.
    let imbalance = |l: usize, u: usize| (cdf[l - 1] - (1.0 - cdf[u - 1])).abs();
    let mut best: Option<(usize, usize)> = None;
    let mut u = 2;
    // For each l, the smallest u reaching the level; it never decreases as l grows.
    for l in 1..n {
        u = u.max(l + 1);
        // The tolerance keeps a coverage equal to the level (up to rounding in the cdf) acceptable.
        while u <= n && cdf[u - 1] - cdf[l - 1] < level - TOLERANCE {
            u += 1;
        }
        if u > n {
            break;
        }
        let better = match best {
            None => true,
            Some((bl, bu)) => u - l < bu - bl || (u - l == bu - bl && imbalance(l, u) < imbalance(bl, bu) - TOLERANCE),
        };
        if better {
            best = Some((l, u));
        }
    }
    best.map(|(l, u)| (l, u, cdf[u - 1] - cdf[l - 1]))
}

/// Tukey fences as in criterion: quartiles by linear interpolation (type 7), mild outside
/// 1.5 IQR, severe outside 3 IQR. All zero for empty input or any NaN.
pub fn tukey_outliers(x: &[f64]) -> TukeyCounts {
    let mut counts = TukeyCounts::default();
    if x.is_empty() || x.iter().any(|v| v.is_nan()) {
        return counts;
    }
    let mut sorted = x.to_vec();
    sorted.sort_by(f64::total_cmp);
    let (q1, q3) = (quantile_type7(&sorted, 0.25), quantile_type7(&sorted, 0.75));
    let iqr = q3 - q1;
    let (low_severe, low_mild, high_mild, high_severe) =
        (q1 - 3.0 * iqr, q1 - 1.5 * iqr, q3 + 1.5 * iqr, q3 + 3.0 * iqr);
    for &v in x {
        if v < low_severe {
            counts.low_severe += 1;
        } else if v > high_severe {
            counts.high_severe += 1;
        } else if v < low_mild {
            counts.low_mild += 1;
        } else if v > high_mild {
            counts.high_mild += 1;
        }
    }
    counts
}

/// Linear-interpolation quantile of sorted, non-empty data (Hyndman–Fan type 7, criterion's).
pub fn quantile_type7(sorted: &[f64], p: f64) -> f64 {
    let rank = p * (sorted.len() - 1) as f64;
    let (lo, frac) = (rank.floor() as usize, rank.fract());
    match sorted.get(lo + 1) {
        Some(&next) => sorted[lo] + (next - sorted[lo]) * frac,
        None => sorted[lo],
    }
}

/// Ratio of sums R = Σy / Σx (e.g. Σtokens / Σseconds) with a delta-method t-interval:
/// SE² ≈ Σ(yᵢ − R xᵢ)² / (n (n − 1) x̄²), n − 1 df.
/// None for n < 2, slices of different lengths, a non-finite value, Σx == 0, or `level` outside (0, 1).
pub fn ratio_of_sums_ci(y: &[f64], x: &[f64], level: f64) -> Option<Estimate> {
    let n = x.len();
    if n < 2 || y.len() != n || !all_finite(x) || !all_finite(y) {
        return None;
    }
    let (sum_x, sum_y) = (x.iter().sum::<f64>(), y.iter().sum::<f64>());
    if sum_x == 0.0 {
        return None;
    }
    let r = sum_y / sum_x;
    let nf = n as f64;
    let mean_x = sum_x / nf;
    let ss: f64 = x.iter().zip(y).map(|(xi, yi)| (yi - r * xi).powi(2)).sum();
    let half = two_sided_t(nf - 1.0, level)? * (ss / (nf * (nf - 1.0) * mean_x * mean_x)).sqrt();
    Some(Estimate {
        point: r,
        interval: Some(Interval {
            lower: r - half,
            upper: r + half,
            level,
        }),
    })
}

/// Welch two-sample t-test on ln(values): the ratio of geometric means `candidate / baseline`,
/// its interval, the two-sided p-value and the Welch–Satterthwaite df.
/// None if either side has n < 2, any value is <= 0 or not finite, both sides have zero
/// variance (t undefined), or `level` is outside (0, 1).
pub fn welch_log_ratio(baseline: &[f64], candidate: &[f64], level: f64) -> Option<RatioTest> {
    let (mb, vb, nb) = moments(&logs(baseline)?)?;
    let (mc, vc, nc) = moments(&logs(candidate)?)?;
    let (sb, sc) = (vb / nb, vc / nc);
    let se2 = sb + sc;
    if se2 <= 0.0 {
        return None;
    }
    let df = se2 * se2 / (sb * sb / (nb - 1.0) + sc * sc / (nc - 1.0));
    log_ratio_test(mc - mb, se2.sqrt(), df, level)
}

/// Between-run comparison of one candidate run against k ≥ 2 baseline runs, each summarised by
/// its geometric mean: d = ln(candidate) − mean ln(baselineᵢ), with the prediction standard error
/// s·√(1 + 1/k) and k − 1 df, so run-to-run drift (which within-run samples cannot show) is in
/// the interval. `min_run_variance` floors s² (on the log scale): a run mean varies at least by
/// its own sampling noise, which two or three nearly equal runs would otherwise hide. Ratio
/// exp(d). None for k < 2, non-positive or non-finite values, zero variance, or `level` outside
/// (0, 1).
pub fn run_level_log_ratio(
    baseline_runs: &[f64],
    candidate: f64,
    min_run_variance: f64,
    level: f64,
) -> Option<RatioTest> {
    let (mb, vb, k) = moments(&logs(baseline_runs)?)?;
    let c = logs(&[candidate])?[0];
    let se = (vb.max(min_run_variance) * (1.0 + 1.0 / k)).sqrt();
    if se.is_nan() || se <= 0.0 {
        return None;
    }
    log_ratio_test(c - mb, se, k - 1.0, level)
}

/// Sampling variance of the log-scale mean of one run's values, s²(ln x) / n; None for n < 2 or
/// non-positive values.
pub fn log_mean_variance(x: &[f64]) -> Option<f64> {
    let (_, v, n) = moments(&logs(x)?)?;
    Some(v / n)
}

/// Paired t-test on dᵢ = ln(candidateᵢ / baselineᵢ): ratio exp(mean d) with a t-interval
/// (n − 1 df) and the two-sided p-value of the one-sample t on d.
/// None for n < 2, slices of different lengths, any value <= 0 or not finite, all dᵢ equal
/// (t undefined), or `level` outside (0, 1).
pub fn paired_log_ratio(baseline: &[f64], candidate: &[f64], level: f64) -> Option<RatioTest> {
    if baseline.len() != candidate.len() {
        return None;
    }
    let d: Vec<f64> = logs(candidate)?
        .iter()
        .zip(logs(baseline)?)
        .map(|(c, b)| c - b)
        .collect();
    let (mean, var, n) = moments(&d)?;
    if var <= 0.0 {
        return None;
    }
    log_ratio_test(mean, (var / n).sqrt(), n - 1.0, level)
}

/// Back-transforms a t-test on a log difference into a `RatioTest`.
fn log_ratio_test(diff: f64, se: f64, df: f64, level: f64) -> Option<RatioTest> {
    let half = two_sided_t(df, level)? * se;
    let p_value = 2.0 * StudentsT::new(0.0, 1.0, df).ok()?.sf((diff / se).abs());
    Some(RatioTest {
        ratio: diff.exp(),
        interval: exp_interval(Interval {
            lower: diff - half,
            upper: diff + half,
            level,
        }),
        p_value,
        df,
    })
}

/// Two-sided Mann–Whitney U test, as scipy's `mannwhitneyu(method="auto")`: `(U of the baseline
/// sample, p)`. U and the normal approximation (tie and continuity corrections) come from statrs;
/// for tie-free samples with one side of at most 8 the p-value is exact. None if either side is
/// empty or has a NaN.
pub fn mann_whitney(baseline: &[f64], candidate: &[f64]) -> Option<(f64, f64)> {
    if baseline.iter().chain(candidate).any(|v| v.is_nan()) {
        return None;
    }
    let (u1, asymptotic_p) = mannwhitneyu(
        baseline,
        candidate,
        MannWhitneyUMethod::AsymptoticInclContinuityCorrection,
        Alternative::TwoSided,
    )
    .ok()?;
    let (n1, n2) = (baseline.len(), candidate.len());
    let mut all: Vec<f64> = baseline.iter().chain(candidate).copied().collect();
    all.sort_by(f64::total_cmp);
    let tie_free = all.windows(2).all(|w| w[0] != w[1]);
    let exact_p = if tie_free && n1.min(n2) <= MWU_EXACT_MAX_SMALLER && n1 * n2 <= MWU_EXACT_MAX_U {
        mann_whitney_exact_p(u1.max((n1 * n2) as f64 - u1) as usize, n1, n2)
    } else {
        None
    };
    Some((u1, exact_p.unwrap_or(asymptotic_p)))
}

/// Exact two-sided p = 2·P(U >= `u_max`) under the null, for tie-free samples of sizes `n1`, `n2`.
/// statrs 0.19.1's exact path is not used: it returns 1 − P instead of P whenever the first
/// sample is not the larger one (e.g. p = 1 for scipy's documented example with the samples
/// swapped). The counts of each U are the coefficients of the Gaussian binomial
/// Π_{i=1..m} (1 − q^{n+i}) / (1 − q^i), m = min(n1, n2), n = max; None if they overflow.
fn mann_whitney_exact_p(u_max: usize, n1: usize, n2: usize) -> Option<f64> {
    let (m, n) = (n1.min(n2), n1.max(n2));
    let top = m * n;
    let mut counts = vec![0_u128; top + 1];
    counts[0] = 1;
    for i in 1..=m {
        // Divide by (1 − q^i), then multiply by (1 − q^{n+i}); the result has non-negative coefficients.
        for u in i..=top {
            counts[u] = counts[u].checked_add(counts[u - i])?;
        }
        for u in (n + i..=top).rev() {
            counts[u] -= counts[u - n - i];
        }
    }
    let total = counts.iter().try_fold(0_u128, |acc, &c| acc.checked_add(c))?;
    let upper: u128 = counts.get(u_max..)?.iter().sum();
    Some((2.0 * upper as f64 / total as f64).min(1.0))
}

/// Cliff's delta = P(candidate > baseline) − P(candidate < baseline) over all pairs, in [−1, 1].
/// None if a side is empty or has a NaN.
pub fn cliffs_delta(baseline: &[f64], candidate: &[f64]) -> Option<f64> {
    if baseline.is_empty() || candidate.is_empty() || baseline.iter().chain(candidate).any(|v| v.is_nan()) {
        return None;
    }
    let dominance: i64 = candidate
        .iter()
        .flat_map(|c| baseline.iter().map(move |b| c.partial_cmp(b).map_or(0, |o| o as i64)))
        .sum();
    Some(dominance as f64 / (baseline.len() * candidate.len()) as f64)
}

/// Holm–Bonferroni adjusted p-values, in the input's order, monotone in the raw p-values and
/// capped at 1. A NaN stays NaN (it still counts as one of the m tests).
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    // NaNs last, whatever their sign bit, so every real p-value gets its rank among them.
    order.sort_by(|&a, &b| p[a].is_nan().cmp(&p[b].is_nan()).then(p[a].total_cmp(&p[b])));
    let mut adjusted = vec![f64::NAN; m];
    let mut running_max = 0.0_f64;
    for (rank, &i) in order.iter().enumerate() {
        if p[i].is_nan() {
            continue;
        }
        running_max = running_max.max(((m - rank) as f64 * p[i]).min(1.0));
        adjusted[i] = running_max;
    }
    adjusted
}

/// Wilcoxon signed-rank test on differences `d` (zeros dropped, average ranks of |d| for ties),
/// two-sided, normal approximation with tie and continuity corrections (scipy's
/// `wilcoxon(d, correction=True, method="approx")`): `(W+, p)`. None with no nonzero difference
/// or a NaN.
pub fn wilcoxon_signed_rank(d: &[f64]) -> Option<(f64, f64)> {
    if d.iter().any(|v| v.is_nan()) {
        return None;
    }
    let mut nonzero: Vec<f64> = d.iter().copied().filter(|&v| v != 0.0).collect();
    if nonzero.is_empty() {
        return None;
    }
    nonzero.sort_by(|a, b| a.abs().total_cmp(&b.abs()));
    let n = nonzero.len() as f64;
    let (mut w_plus, mut tie_term) = (0.0, 0.0);
    let mut start = 0;
    while start < nonzero.len() {
        let end = start
            + nonzero[start..]
                .iter()
                .take_while(|v| v.abs() == nonzero[start].abs())
                .count();
        let t = (end - start) as f64;
        let rank = (start + 1 + end) as f64 / 2.0;
        w_plus += rank * nonzero[start..end].iter().filter(|&&v| v > 0.0).count() as f64;
        tie_term += t * t * t - t;
        start = end;
    }
    let mean = n * (n + 1.0) / 4.0;
    let sd = (n * (n + 1.0) * (2.0 * n + 1.0) / 24.0 - tie_term / 48.0).sqrt();
    // Continuity correction toward the mean, none when W+ is the mean (scipy's 0.5·sign).
    let correction = if w_plus > mean {
        0.5
    } else if w_plus < mean {
        -0.5
    } else {
        0.0
    };
    let z = (w_plus - mean - correction) / sd;
    Some((w_plus, (2.0 * Normal::standard().sf(z.abs())).min(1.0)))
}

/// `(mean, sample variance, n)` of finite data with n >= 2.
fn moments(x: &[f64]) -> Option<(f64, f64, f64)> {
    if x.len() < 2 || !all_finite(x) {
        return None;
    }
    Some((x.mean(), x.variance(), x.len() as f64))
}

/// Natural logs of finite, strictly positive data.
fn logs(x: &[f64]) -> Option<Vec<f64>> {
    x.iter().map(|&v| (v > 0.0 && v.is_finite()).then(|| v.ln())).collect()
}

fn all_finite(x: &[f64]) -> bool {
    x.iter().all(|v| v.is_finite())
}

/// True for a probability or confidence level strictly inside (0, 1); false for NaN.
/// Wilson score interval for a proportion of `k` successes in `n` trials: unlike the normal
/// approximation it stays within [0, 1] and keeps its coverage at small n and near 0 or 1.
/// None for n = 0, k > n or `level` outside (0, 1).
pub fn wilson_interval(k: u64, n: u64, level: f64) -> Option<Interval> {
    if n == 0 || k > n || !in_open_unit(level) {
        return None;
    }
    let z = Normal::standard().inverse_cdf(1.0 - (1.0 - level) / 2.0);
    let (all, none) = (k == n, k == 0);
    let (n, p) = (n as f64, k as f64 / n as f64);
    let denominator = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denominator;
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / denominator;
    // At 0 or n successes a bound is exactly 0 or 1; rounding would leave it a hair off.
    let lower = if none { 0.0 } else { (centre - half).max(0.0) };
    let upper = if all { 1.0 } else { (centre + half).min(1.0) };
    Some(Interval { lower, upper, level })
}

fn in_open_unit(v: f64) -> bool {
    v > 0.0 && v < 1.0
}

/// The t quantile for a two-sided interval at `level`.
fn two_sided_t(df: f64, level: f64) -> Option<f64> {
    if !in_open_unit(level) {
        return None;
    }
    t_quantile(df, (1.0 + level) / 2.0)
}

fn exp_interval(i: Interval) -> Interval {
    Interval {
        lower: i.lower.exp(),
        upper: i.upper.exp(),
        level: i.level,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: f64, expected: f64, tol: f64) {
        assert!((actual - expected).abs() <= tol, "{actual} != {expected} (±{tol})");
    }

    #[test]
    fn t_quantiles_match_tables() {
        // scipy.stats.t.ppf(0.975, 9) = 2.262157162798205, t.ppf(0.975, 29) = 2.045229642132703.
        close(t_quantile(9.0, 0.975).unwrap(), 2.262157, 1e-5);
        close(t_quantile(29.0, 0.975).unwrap(), 2.045230, 1e-5);
        // Past statrs' accurate range: scipy t.ppf(0.975, 1e6) = 1.959966356814107,
        // t.ppf(0.9995, 3000) = 3.293772880685501, t.ppf(0.1, 1e9) = -1.2815515663911852,
        // norm.ppf(0.975) = 1.959963984540054.
        close(t_quantile(1e6, 0.975).unwrap(), 1.959966356814107, 1e-9);
        close(t_quantile(3000.0, 0.9995).unwrap(), 3.293772880685501, 1e-9);
        close(t_quantile(1e9, 0.1).unwrap(), -1.2815515663911852, 1e-9);
        close(t_quantile(f64::INFINITY, 0.975).unwrap(), 1.959963984540054, 1e-9);
        assert_eq!(t_quantile(0.0, 0.975), None);
        assert_eq!(t_quantile(f64::NAN, 0.975), None);
        assert_eq!(t_quantile(9.0, 1.0), None);
        assert_eq!(t_quantile(9.0, 0.0), None);
    }

    #[test]
    fn mean_ci_matches_hand_computation() {
        // Mean 5, s² = 32/7, t(7, 0.975) = 2.364624; 5 ± 2.364624·√(32/7)/√8 = [3.212512, 6.787488]
        // (scipy ttest_1samp(x, 0).confidence_interval(0.95) agrees).
        let x = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        let e = mean_ci(&x, 0.95).unwrap();
        close(e.point, 5.0, 1e-12);
        let i = e.interval.unwrap();
        close(i.lower, 3.21251208176379, 1e-6);
        close(i.upper, 6.787487918236209, 1e-6);
        assert_eq!(i.level, 0.95);
        assert_eq!(mean_ci(&[1.0], 0.95), None);
        assert_eq!(mean_ci(&[1.0, f64::NAN], 0.95), None);
        assert_eq!(mean_ci(&x, 1.0), None);
        // scipy: x.std(ddof=1) / x.mean() = 0.427617987059879.
        close(cv(&x).unwrap(), 0.427617987059879, 1e-12);
        assert_eq!(cv(&[-1.0, 1.0]), None);
    }

    #[test]
    fn geometric_mean_ci_matches_scipy() {
        // scipy: gmean = 1.4051798315076054; exp(ttest_1samp(log g, 0).confidence_interval(0.95))
        // = [0.9666028222752071, 2.0427525281046224].
        let g = [1.2, 1.5, 0.9, 2.4, 1.1, 1.8];
        let e = geometric_mean_ci(&g, 0.95).unwrap();
        close(e.point, 1.4051798315076054, 1e-12);
        let i = e.interval.unwrap();
        close(i.lower, 0.9666028222752071, 1e-6);
        close(i.upper, 2.0427525281046224, 1e-6);
        assert_eq!(geometric_mean_ci(&[1.0, 0.0], 0.95), None);
    }

    #[test]
    fn quantile_ci_order_statistics() {
        // Expected ranks and coverages: stats.md §5 table, confirmed with scipy.stats.binom
        // (n=10: 0.978515625; n=30: 0.9572260547; p90 n=30: 0.9555890127).
        let x10 = [12.0, 7.0, 3.0, 9.0, 15.0, 4.0, 11.0, 8.0, 6.0, 10.0];
        let q = quantile_ci(&x10, 0.5, 0.95).unwrap();
        assert_eq!(q.order_stats, Some((2, 9)));
        close(q.coverage.unwrap(), 0.978515625, 1e-9);
        // numpy.quantile(x10, 0.5, method="median_unbiased") (type 8) = 8.5; sorted x10[1], x10[8] = 4, 12.
        close(q.point, 8.5, 1e-12);
        assert_eq!(
            q.interval,
            Some(Interval {
                lower: 4.0,
                upper: 12.0,
                level: 0.95
            })
        );

        let x30: Vec<f64> = (1..=30).map(|i| i as f64 * 1.5).collect();
        let q = quantile_ci(&x30, 0.5, 0.95).unwrap();
        assert_eq!(q.order_stats, Some((10, 21)));
        close(q.coverage.unwrap(), 0.9572260547429323, 1e-9);

        let q = quantile_ci(&x30, 0.9, 0.95).unwrap();
        assert_eq!(q.order_stats, Some((22, 30)));
        close(q.coverage.unwrap(), 0.9555890127195255, 1e-9);
        // numpy.quantile(x30, 0.9, method="median_unbiased") = 41.45.
        close(q.point, 41.45, 1e-9);
        assert_eq!(q.interval.map(|i| (i.lower, i.upper)), Some((33.0, 45.0)));

        let q = quantile_ci(&x30[..20], 0.9, 0.95).unwrap();
        assert_eq!((q.interval, q.coverage, q.order_stats), (None, None, None));

        // stats.md §5: p95 at n=59 → (X50, X59), 95.1% (scipy: 0.9508618638).
        let x59: Vec<f64> = (1..=59).map(f64::from).collect();
        let q = quantile_ci(&x59, 0.95, 0.95).unwrap();
        assert_eq!(q.order_stats, Some((50, 59)));
        close(q.coverage.unwrap(), 0.9508618638358861, 1e-9);

        // n = 11: (X2, X9) and (X3, X10) tie on width, coverage 0.96142578125 and tail balance;
        // the lower pair wins. n = 2 at level 0.5: (X1, X2) covers exactly 0.5.
        let x11: Vec<f64> = (1..=11).map(f64::from).collect();
        assert_eq!(quantile_ci(&x11, 0.5, 0.95).unwrap().order_stats, Some((2, 9)));
        assert_eq!(quantile_ci(&[3.0, 4.0], 0.5, 0.5).unwrap().order_stats, Some((1, 2)));

        assert_eq!(quantile_ci(&[], 0.5, 0.95), None);
        assert_eq!(quantile_ci(&x10, 1.0, 0.95), None);
        assert_eq!(quantile_ci(&[1.0, f64::NAN], 0.5, 0.95), None);
    }

    #[test]
    fn tukey_counts() {
        // numpy.percentile (type 7): q1 = 11.75, q3 = 15.25, fences 1.25 / 6.5 / 20.5 / 25.75,
        // so −5 is low severe, 24 high mild, 40 high severe.
        let x = [10.0, 11.0, 12.0, 12.0, 13.0, 13.0, 14.0, 15.0, 16.0, 24.0, 40.0, -5.0];
        assert_eq!(
            tukey_outliers(&x),
            TukeyCounts {
                low_severe: 1,
                low_mild: 0,
                high_mild: 1,
                high_severe: 1
            }
        );
        assert_eq!(tukey_outliers(&[]), TukeyCounts::default());
    }

    #[test]
    fn ratio_of_sums_delta_method() {
        // Σtokens/Σseconds = 683/11.6; interval from the stats.md §5 formula evaluated in numpy
        // with scipy t.ppf(0.975, 4): [56.21470402459274, 61.54391666506245].
        let tokens = [120.0, 118.0, 250.0, 64.0, 131.0];
        let seconds = [2.0, 1.9, 4.3, 1.2, 2.2];
        let e = ratio_of_sums_ci(&tokens, &seconds, 0.95).unwrap();
        close(e.point, 683.0 / 11.6, 1e-12);
        let i = e.interval.unwrap();
        close(i.lower, 56.21470402459274, 1e-6);
        close(i.upper, 61.54391666506245, 1e-6);
        assert_eq!(ratio_of_sums_ci(&[1.0, 2.0], &[1.0, -1.0], 0.95), None);
        assert_eq!(ratio_of_sums_ci(&[1.0, 2.0], &[1.0], 0.95), None);
    }

    const BASE: [f64; 8] = [10.2, 11.5, 9.8, 12.1, 10.9, 11.3, 10.4, 13.0];

    #[test]
    fn welch_log_ratio_matches_scipy() {
        // scipy ttest_ind(log c, log b, equal_var=False): p = 0.0013493728792230333,
        // df = 14.259211473157192; exp of its 95% CI = [1.0804494590236324, 1.2950261602187738];
        // exp(mean log c − mean log b) = 1.182882206405112.
        let c = [12.0, 13.1, 11.8, 14.6, 12.9, 13.4, 15.2, 12.2, 13.9, 12.7];
        let r = welch_log_ratio(&BASE, &c, 0.95).unwrap();
        close(r.ratio, 1.182882206405112, 1e-12);
        close(r.interval.lower, 1.0804494590236324, 1e-6);
        close(r.interval.upper, 1.2950261602187738, 1e-6);
        close(r.p_value, 0.0013493728792230333, 1e-7);
        close(r.df, 14.259211473157192, 1e-9);
        assert_eq!(welch_log_ratio(&BASE, &[1.0], 0.95), None);
        assert_eq!(welch_log_ratio(&BASE, &[1.0, 0.0], 0.95), None);
        assert_eq!(welch_log_ratio(&[2.0, 2.0], &[3.0, 3.0], 0.95), None);
    }

    #[test]
    fn paired_log_ratio_matches_scipy() {
        // scipy ttest_rel(log c, log b): p = 0.0007565016450979274, df = 7; exp of its 95% CI =
        // [1.0293250510498007, 1.0727492279883086]; exp(mean d) = 1.0508128538720394.
        let c = [10.9, 11.9, 10.5, 12.4, 11.8, 11.6, 11.2, 13.3];
        let r = paired_log_ratio(&BASE, &c, 0.95).unwrap();
        close(r.ratio, 1.0508128538720394, 1e-12);
        close(r.interval.lower, 1.0293250510498007, 1e-6);
        close(r.interval.upper, 1.0727492279883086, 1e-6);
        close(r.p_value, 0.0007565016450979274, 1e-8);
        assert_eq!(r.df, 7.0);
        assert_eq!(paired_log_ratio(&BASE, &c[..7], 0.95), None);
        assert_eq!(paired_log_ratio(&BASE, &BASE, 0.95), None);
    }

    #[test]
    fn mann_whitney_matches_scipy() {
        // scipy.stats.mannwhitneyu docs example: U1 = 17, exact two-sided p = 1/9.
        let (u, p) = mann_whitney(&[19.0, 22.0, 16.0, 29.0, 24.0], &[20.0, 11.0, 17.0, 12.0]).unwrap();
        assert_eq!(u, 17.0);
        close(p, 0.1111111111111111, 1e-9);
        // With ties, n = 12 and 11: scipy mannwhitneyu(x, y, method="asymptotic") gives U1 = 16,
        // p = 0.0022805015272660757.
        let x = [3.1, 4.2, 2.8, 5.0, 4.2, 3.9, 4.4, 3.3, 4.8, 3.7, 4.1, 2.9];
        let y = [4.6, 5.2, 4.2, 5.9, 4.9, 5.5, 3.9, 6.1, 5.0, 4.7, 5.3];
        let (u, p) = mann_whitney(&x, &y).unwrap();
        assert_eq!(u, 16.0);
        close(p, 0.0022805015272660757, 1e-9);
        assert_eq!(mann_whitney(&[], &[1.0]), None);
        assert_eq!(mann_whitney(&[f64::NAN], &[1.0]), None);
        // Smaller sample first, where statrs 0.19.1's exact p is 1 − P (scipy: U1 = 3, p = 1/9;
        // for the 6 v 6 pair U1 = 4, p = 0.025974025974025976).
        let (u, p) = mann_whitney(&[20.0, 11.0, 17.0, 12.0], &[19.0, 22.0, 16.0, 29.0, 24.0]).unwrap();
        assert_eq!(u, 3.0);
        close(p, 0.1111111111111111, 1e-12);
        let (u, p) = mann_whitney(&[1.2, 3.4, 2.2, 5.1, 4.4, 0.7], &[2.9, 6.3, 5.8, 4.9, 7.1, 6.6]).unwrap();
        assert_eq!(u, 4.0);
        close(p, 0.025974025974025976, 1e-12);
        // Lopsided sizes stay exact: scipy method="exact" gives U1 = 15, p = 0.0006678894937544966
        // for 5 v 40, and U1 = 36, p = 2.3023891795838924e-07 for 8 v 100.
        let forty: Vec<f64> = (0..40).map(|i| f64::from(i) + 0.25).collect();
        let (u, p) = mann_whitney(&[1.0, 2.0, 3.0, 4.0, 5.0], &forty).unwrap();
        assert_eq!(u, 15.0);
        close(p, 0.0006678894937544966, 1e-15);
        let hundred: Vec<f64> = (0..100).map(f64::from).collect();
        let (u, p) = mann_whitney(&[0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5], &hundred).unwrap();
        assert_eq!(u, 36.0);
        close(p, 2.3023891795838924e-07, 1e-18);
    }

    #[test]
    fn cliffs_delta_simple_cases() {
        assert_eq!(cliffs_delta(&[1.0, 2.0], &[3.0, 4.0, 5.0]), Some(1.0));
        assert_eq!(cliffs_delta(&[3.0, 4.0], &[1.0, 2.0]), Some(-1.0));
        assert_eq!(cliffs_delta(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]), Some(0.0));
        // Pairs (c > b) − (c < b) = (2 − 1) / 4 for b = [1, 3], c = [2, 4].
        assert_eq!(cliffs_delta(&[1.0, 3.0], &[2.0, 4.0]), Some(0.5));
        assert_eq!(cliffs_delta(&[], &[1.0]), None);
    }

    #[test]
    fn run_level_ratio_uses_the_spread_between_runs() {
        // Baseline run means 100, 110, 90; candidate 80. Logs: mean m = (ln 100 + ln 110 + ln 90)/3,
        // s² their sample variance; d = ln 80 − m; se = s·√(4/3); t(2 df, 0.975) = 4.302653.
        let logs = [100f64.ln(), 110f64.ln(), 90f64.ln()];
        let m = logs.iter().sum::<f64>() / 3.0;
        let s2 = logs.iter().map(|l| (l - m).powi(2)).sum::<f64>() / 2.0;
        let (d, se) = (80f64.ln() - m, (s2 * 4.0 / 3.0).sqrt());
        let r = run_level_log_ratio(&[100.0, 110.0, 90.0], 80.0, 0.0, 0.95).unwrap();
        assert!((r.ratio - d.exp()).abs() < 1e-12);
        assert!((r.interval.lower - (d - 4.302653 * se).exp()).abs() < 1e-6);
        assert!((r.interval.upper - (d + 4.302653 * se).exp()).abs() < 1e-6);
        assert_eq!(r.df, 2.0);
        assert!(
            run_level_log_ratio(&[100.0], 80.0, 0.0, 0.95).is_none(),
            "one baseline run has no spread"
        );
        // Two identical run means: the floor (each run mean's own sampling variance) keeps the
        // interval from collapsing.
        let floored = run_level_log_ratio(&[100.0, 100.0], 100.0, 0.01, 0.95).unwrap();
        let half = 12.706205 * (0.01f64 * 1.5).sqrt();
        assert!((floored.interval.upper - half.exp()).abs() < 1e-4, "{floored:?}");
    }

    #[test]
    fn holm_adjustment() {
        // Hand-computed: sorted 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, max(0.04·1, 0.06) = 0.06.
        let adjusted = holm(&[0.01, 0.04, 0.03, 0.005]);
        for (a, e) in adjusted.iter().zip([0.03, 0.06, 0.06, 0.02]) {
            close(*a, e, 1e-12);
        }
        assert_eq!(holm(&[0.5, 0.9]), vec![1.0, 1.0]);
        assert!(holm(&[]).is_empty());
        let with_nan = holm(&[f64::NAN, 0.01]);
        assert!(with_nan[0].is_nan());
        close(with_nan[1], 0.02, 1e-12);
    }

    #[test]
    fn wilcoxon_matches_scipy() {
        // scipy wilcoxon(d, correction=True, method="approx"): p = 0.025493914708952424; scipy
        // reports min(W+, W−) = 7.5, and rankdata(|d|) over positive d sums to W+ = 58.5.
        let d = [0.5, -0.2, 1.1, 0.5, 0.0, 0.8, -0.5, 1.3, 0.9, 0.5, -0.1, 0.7];
        let (w, p) = wilcoxon_signed_rank(&d).unwrap();
        assert_eq!(w, 58.5);
        close(p, 0.025493914708952424, 1e-9);
        // Mirrored differences give W− of the original as W+ and the same p.
        let mirrored: Vec<f64> = d.iter().map(|v| -v).collect();
        let (w, p) = wilcoxon_signed_rank(&mirrored).unwrap();
        assert_eq!(w, 7.5);
        close(p, 0.025493914708952424, 1e-9);
        assert_eq!(wilcoxon_signed_rank(&[0.0, 0.0]), None);
        assert_eq!(wilcoxon_signed_rank(&[]), None);
    }

    #[test]
    fn wilson_intervals_match_published_values() {
        // 7 of 10: [0.3968, 0.8922], the usual worked example (e.g. Newcombe 1998).
        let i = wilson_interval(7, 10, 0.95).unwrap();
        assert!(
            (i.lower - 0.3968).abs() < 5e-4 && (i.upper - 0.8922).abs() < 5e-4,
            "{i:?}"
        );
        let none = wilson_interval(0, 10, 0.95).unwrap();
        assert!(none.lower == 0.0 && (none.upper - 0.2775).abs() < 5e-4, "{none:?}");
        let all = wilson_interval(10, 10, 0.95).unwrap();
        assert!((all.lower - 0.7225).abs() < 5e-4 && all.upper == 1.0, "{all:?}");
        assert_eq!(wilson_interval(0, 0, 0.95), None);
        assert_eq!(wilson_interval(3, 2, 0.95), None);
    }
}
