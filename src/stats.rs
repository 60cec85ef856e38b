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
mod tests;
