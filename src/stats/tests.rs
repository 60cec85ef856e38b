//! Unit tests of `stats`.

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
