//! Calibration of the intervals and the verdict rule by simulation, with a seeded generator:
//! coverage of the 95 % intervals, the A/A false-alarm rate with Holm over 10 metrics, and the
//! power to detect a 10 % change.

use quantbench::analysis::Better;
use quantbench::compare::{verdict, Verdict, DEFAULT_NOISE};
use quantbench::stats;

/// SplitMix64 with Box–Muller: deterministic, dependency-free normal draws.
struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.uniform().max(f64::MIN_POSITIVE), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// Log-normal with median `median` and log-sd `sigma` (CV ≈ sigma for small sigma).
    fn lognormal(&mut self, n: usize, median: f64, sigma: f64) -> Vec<f64> {
        (0..n).map(|_| median * (sigma * self.normal()).exp()).collect()
    }
}

const EXPERIMENTS: usize = 2000;

#[test]
fn intervals_cover_the_true_value_about_95_percent_of_the_time() {
    let mut rng = Rng(42);
    for n in [10, 30] {
        let (mut geo, mut arith, mut median) = (0, 0, 0);
        let sigma = 0.2;
        let true_arith_mean = 50.0 * (sigma * sigma / 2.0_f64).exp();
        for _ in 0..EXPERIMENTS {
            let x = rng.lognormal(n, 50.0, sigma);
            let covers = |e: Option<stats::Estimate>, truth: f64| {
                e.and_then(|e| e.interval)
                    .is_some_and(|ci| ci.lower <= truth && truth <= ci.upper)
            };
            geo += usize::from(covers(stats::geometric_mean_ci(&x, 0.95), 50.0));
            arith += usize::from(covers(stats::mean_ci(&x, 0.95), true_arith_mean));
            let q = stats::quantile_ci(&x, 0.5, 0.95).unwrap();
            median += usize::from(q.interval.is_some_and(|ci| ci.lower <= 50.0 && 50.0 <= ci.upper));
        }
        let rate = |k: usize| k as f64 / EXPERIMENTS as f64;
        eprintln!(
            "n = {n}: coverage geometric {:.4}, arithmetic {:.4}, median {:.4}",
            rate(geo),
            rate(arith),
            rate(median)
        );
        // t-intervals: 93–97 %.
        assert!(
            (0.93..=0.97).contains(&rate(geo)),
            "geometric mean, n = {n}: {}",
            rate(geo)
        );
        assert!(
            (0.93..=0.97).contains(&rate(arith)),
            "arithmetic mean, n = {n}: {}",
            rate(arith)
        );
        // The order-statistic interval is discrete: its exact coverage is 97.85 % at n = 10 and
        // 95.72 % at n = 30 (binomial). It must match that, within simulation error (±1.5 %).
        let exact = if n == 10 { 0.9785 } else { 0.9572 };
        assert!(
            (rate(median) - exact).abs() < 0.015,
            "median, n = {n}: {} vs {exact}",
            rate(median)
        );
    }
}

/// One simulated comparison run: `metrics` independent metrics, baseline vs candidate, Holm over
/// all of them, the default 5 % noise threshold. Returns the verdicts.
fn run(rng: &mut Rng, metrics: usize, n: usize, sigma: f64, shift: f64) -> Vec<Verdict> {
    let tests: Vec<_> = (0..metrics)
        .map(|_| {
            let base = rng.lognormal(n, 40.0, sigma);
            let cand = rng.lognormal(n, 40.0 * shift, sigma);
            stats::welch_log_ratio(&base, &cand, 0.95).unwrap()
        })
        .collect();
    let holm = stats::holm(&tests.iter().map(|t| t.p_value).collect::<Vec<_>>());
    tests
        .iter()
        .zip(holm)
        .map(|(t, p)| verdict(&t.interval, p, Better::Higher, DEFAULT_NOISE))
        .collect()
}

#[test]
fn identical_distributions_rarely_raise_an_alarm() {
    let mut rng = Rng(7);
    for n in [10, 20] {
        let alarms = (0..EXPERIMENTS)
            .filter(|_| {
                run(&mut rng, 10, n, 0.05, 1.0)
                    .iter()
                    .any(|v| matches!(v, Verdict::Regressed | Verdict::Improved))
            })
            .count();
        let rate = alarms as f64 / EXPERIMENTS as f64;
        eprintln!("A/A, n = {n}, 10 metrics: family-wise false alarm rate {rate:.4}");
        assert!(rate <= 0.05, "A/A family-wise false alarms at n = {n}: {rate}");
    }
}

#[test]
fn a_ten_percent_drop_at_cv_5_percent_is_detected_with_n_20() {
    let mut rng = Rng(11);
    // One metric shifted by −10 %, nine unchanged, Holm over all ten.
    let detected = (0..EXPERIMENTS)
        .filter(|_| {
            let base = rng.lognormal(20, 40.0, 0.05);
            let cand = rng.lognormal(20, 36.0, 0.05);
            let shifted = stats::welch_log_ratio(&base, &cand, 0.95).unwrap();
            let mut p: Vec<f64> = vec![shifted.p_value];
            p.extend((0..9).map(|_| {
                stats::welch_log_ratio(&rng.lognormal(20, 40.0, 0.05), &rng.lognormal(20, 40.0, 0.05), 0.95)
                    .unwrap()
                    .p_value
            }));
            verdict(&shifted.interval, stats::holm(&p)[0], Better::Higher, DEFAULT_NOISE) == Verdict::Regressed
        })
        .count();
    let power = detected as f64 / EXPERIMENTS as f64;
    eprintln!("−10 % at CV 5 %, n = 20: detected {power:.4}");
    assert!(power >= 0.90, "power {power}");
}

/// Drift within a benchmark (`drift`): 10 samples with 2 % noise. A steady 1 % slowdown per
/// sample is flagged nearly always; with no change, the Mann–Kendall test flags at most 5 %.
#[test]
fn drift_is_flagged_for_a_steady_slowdown_and_rarely_otherwise() {
    let mut rng = Rng(7);
    let runs = 1000;
    let (mut slowing_flagged, mut steady_flagged) = (0, 0);
    for _ in 0..runs {
        let noise = rng.lognormal(10, 100.0, 0.02);
        let slowing: Vec<f64> = noise
            .iter()
            .enumerate()
            .map(|(i, v)| v * 0.99f64.powi(i as i32))
            .collect();
        slowing_flagged += usize::from(quantbench::drift::test("decode_rate", &slowing).unwrap().flagged);
        steady_flagged += usize::from(
            quantbench::drift::test("decode_rate", &rng.lognormal(10, 100.0, 0.02))
                .unwrap()
                .flagged,
        );
    }
    let (power, false_rate) = (
        slowing_flagged as f64 / runs as f64,
        steady_flagged as f64 / runs as f64,
    );
    eprintln!("drift: flagged {power:.3} of slowing benchmarks, {false_rate:.3} of unchanged ones");
    assert!(power >= 0.9, "a 1 %/sample slowdown was flagged in only {power}");
    assert!(false_rate <= 0.05, "unchanged benchmarks flagged {false_rate}");
}
