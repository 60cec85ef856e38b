//! When each request of a load level is sent: the arrival schedule of an open-loop level, and
//! the workload mix (which prompt and budget each request gets).

use crate::prompts::{Category, Prompt};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How open-loop requests arrive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arrivals {
    /// Exponential gaps (a Poisson process), from a seeded generator: the same seed, the same schedule.
    Poisson,
    /// One request every 1/rate seconds.
    Constant,
}

/// Send offsets of `n` requests arriving at `rate_per_s`, from the level's start; the first at 0.
pub fn arrivals(kind: Arrivals, rate_per_s: f64, n: u32, seed: u64) -> Vec<Duration> {
    let mut rng = SplitMix64(seed);
    let mut at = 0.0;
    (0..n)
        .map(|i| {
            if i > 0 {
                at += match kind {
                    Arrivals::Constant => 1.0 / rate_per_s,
                    // Inverse CDF of the exponential; 1 − u lies in (0, 1], so the log is finite.
                    Arrivals::Poisson => -(1.0 - rng.next_unit()).ln() / rate_per_s,
                };
            }
            Duration::from_secs_f64(at)
        })
        .collect()
}

/// SplitMix64 (Steele, Lea & Flood 2014): a tiny, well-mixed generator; enough for schedules and
/// no extra dependency. Public for the synthetic runs of the scale test and benchmark.
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One request of a level: which prompt, with which budget (its mix class).
#[derive(Clone, Debug)]
pub struct Job<'a> {
    pub prompt: &'a Prompt,
    /// The mix class: the `max_tokens` sent.
    pub max_tokens: u32,
}

/// `n` requests cycling through the mix classes. Each class takes the prompts of the category
/// whose own budget is nearest its `max_tokens` (so a 2000-token class asks for a long answer),
/// cycling through them. None when there are no prompts.
pub fn mix_jobs<'a>(categories: &[Category<'a>], mix: &[u32], n: u32) -> Option<Vec<Job<'a>>> {
    let per_class: Vec<&Category> = mix
        .iter()
        .map(|&budget| {
            categories
                .iter()
                .filter(|c| !c.prompts.is_empty())
                .min_by_key(|c| c.prompts[0].max_tokens.abs_diff(budget))
        })
        .collect::<Option<_>>()?;
    let mut used = vec![0usize; mix.len()];
    let jobs = (0..n as usize)
        .map(|i| {
            let class = i % mix.len();
            let prompts = &per_class[class].prompts;
            let prompt = prompts[used[class] % prompts.len()];
            used[class] += 1;
            Job {
                prompt,
                max_tokens: mix[class],
            }
        })
        .collect();
    Some(jobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisson_schedule_is_seeded_and_has_the_asked_rate() {
        let a = arrivals(Arrivals::Poisson, 50.0, 20_001, 7);
        assert_eq!(a, arrivals(Arrivals::Poisson, 50.0, 20_001, 7));
        assert_ne!(a, arrivals(Arrivals::Poisson, 50.0, 20_001, 8));
        assert!(a.windows(2).all(|w| w[0] <= w[1]));
        // 20 000 exponential gaps of mean 20 ms: the mean gap is within 3 % (about 4 standard errors).
        let mean_gap = a.last().unwrap().as_secs_f64() / 20_000.0;
        assert!((mean_gap - 0.02).abs() / 0.02 < 0.03, "mean gap {mean_gap}");
    }

    #[test]
    fn constant_schedule_is_evenly_spaced() {
        let a = arrivals(Arrivals::Constant, 4.0, 5, 0);
        let ms: Vec<u128> = a.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [0, 250, 500, 750, 1000]);
    }

    #[test]
    fn mix_classes_take_the_nearest_category() {
        let lib: crate::prompts::PromptLibrary = {
            let mut lib = crate::prompts::PromptLibrary::default();
            lib.add_file(include_str!("../../prompts/standard.json")).unwrap();
            lib
        };
        let sets = ["standard".to_owned()];
        let cats = lib
            .select(&crate::prompts::Selection {
                sets: &sets,
                languages: &[],
                categories: &[],
            })
            .unwrap();
        let jobs = mix_jobs(&cats, &[100, 500, 2000], 6).unwrap();
        let got: Vec<(u32, &str)> = jobs
            .iter()
            .map(|j| (j.max_tokens, j.prompt.category.as_str()))
            .collect();
        assert_eq!(got[..3], [(100, "short"), (500, "code"), (2000, "long")]);
        assert_eq!(got[3].0, 100);
        assert_ne!(
            jobs[0].prompt.id, jobs[3].prompt.id,
            "a class cycles through its category's prompts"
        );
    }
}
