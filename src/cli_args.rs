//! Reads criterion's command line ourselves, to know which benchmarks will run before setting
//! anything up: criterion runs group-setup code even for groups its filter skips, and setting up
//! a group here means contacting (or starting) its endpoint.

use anyhow::{bail, Result};
use regex::Regex;

/// criterion options that take a value (`--opt value` or `--opt=value`).
const VALUE_OPTIONS: &[&str] = &[
    "-c",
    "--color",
    "--colour",
    "-s",
    "--save-baseline",
    "-b",
    "--baseline",
    "--baseline-lenient",
    "--load-baseline",
    "--format",
    "--profile-time",
    "--sample-size",
    "--warm-up-time",
    "--measurement-time",
    "--nresamples",
    "--noise-threshold",
    "--confidence-level",
    "--significance-level",
    "--plotting-backend",
    "--output-format",
    "-Z",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `cargo bench`: measure.
    Benchmark,
    /// `--list`: print the benchmark ids.
    List,
    /// No `--bench` (e.g. `cargo test --benches`): criterion runs each benchmark once.
    Test,
}

#[derive(Clone, Debug)]
pub enum Filter {
    All,
    Regex(Regex),
    Exact(String),
}

impl Filter {
    pub fn matches(&self, id: &str) -> bool {
        match self {
            Filter::All => true,
            Filter::Regex(re) => re.is_match(id),
            Filter::Exact(s) => s == id,
        }
    }

    pub fn is_all(&self) -> bool {
        matches!(self, Filter::All)
    }

    /// Whether the filter's own text spells `word` (a regex or exact id that names it), as
    /// opposed to matching it by a wildcard.
    pub fn spells(&self, word: &str) -> bool {
        match self {
            Filter::All => false,
            Filter::Regex(re) => re.as_str().contains(word),
            Filter::Exact(s) => s.contains(word),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Filter::All => "(none)".into(),
            Filter::Regex(re) => re.as_str().into(),
            Filter::Exact(s) => format!("{s} (exact)"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct CliArgs {
    pub mode: Mode,
    pub filter: Filter,
    /// `--sample-size` was given: it overrides the config's `samples`.
    pub sample_size: Option<u32>,
    /// `--save-baseline NAME`: also save this run's records as quantbench baseline NAME.
    pub save_baseline: Option<String>,
    /// `--baseline NAME` or `--baseline-lenient NAME`: compare the run against baseline NAME.
    pub baseline: Option<Baseline>,
    /// `--noise-threshold F`: the verdicts' noise threshold (over `$QUANTBENCH_NOISE_THRESHOLD`);
    /// criterion reads the same option for its own change report.
    pub noise_threshold: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Baseline {
    pub name: String,
    /// `--baseline-lenient`: a missing baseline is a warning, not an error.
    pub lenient: bool,
}

impl CliArgs {
    /// Parses the arguments after the program name.
    pub fn parse(args: &[String]) -> Result<CliArgs> {
        let mut positional = Vec::new();
        let (mut bench, mut list, mut exact) = (false, false, false);
        let mut sample_size = None;
        let (mut save_baseline, mut baseline, mut noise_threshold) = (None, None, None);
        let mut i = 0;
        while i < args.len() {
            let arg = args[i].as_str();
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) if n.starts_with('-') => (n, Some(v.to_owned())),
                _ => (arg, None),
            };
            if VALUE_OPTIONS.contains(&name) {
                let value = match inline {
                    Some(v) => v,
                    None => {
                        i += 1;
                        args.get(i).cloned().unwrap_or_default()
                    }
                };
                match name {
                    "--sample-size" => sample_size = Some(sample_size_of(&value)?),
                    "--warm-up-time" | "--measurement-time" | "--nresamples" | "--confidence-level" | "--significance-level" => {
                        criterion_number(name, &value)?
                    }
                    "--load-baseline" => bail!("--load-baseline is not supported: quantbench measures every run; compare runs with --baseline NAME or `quantbench compare`"),
                    "-s" | "--save-baseline" => save_baseline = Some(value),
                    "-b" | "--baseline" => baseline = Some(Baseline { name: value, lenient: false }),
                    "--baseline-lenient" => baseline = Some(Baseline { name: value, lenient: true }),
                    "--noise-threshold" => noise_threshold = Some(crate::util::parse_fraction("--noise-threshold", &value)?),
                    _ => {}
                }
            } else if arg == "--bench" {
                bench = true;
            } else if arg == "--list" {
                list = true;
            } else if arg == "--exact" {
                exact = true;
            } else if !arg.starts_with('-') {
                positional.push(arg.to_owned());
            }
            i += 1;
        }
        let filter = match positional.first() {
            None => Filter::All,
            Some(f) if exact => Filter::Exact(f.clone()),
            Some(f) => Filter::Regex(
                Regex::new(f)
                    .map_err(|e| anyhow::anyhow!("the filter {f:?} is not a valid regular expression: {e}"))?,
            ),
        };
        if positional.len() > 1 {
            bail!("only one filter may be given, got {positional:?}");
        }
        let mode = if list {
            Mode::List
        } else if bench {
            Mode::Benchmark
        } else {
            Mode::Test
        };
        Ok(CliArgs {
            mode,
            filter,
            sample_size,
            save_baseline,
            baseline,
            noise_threshold,
        })
    }
}

/// `--sample-size N`: from criterion's minimum (it panics below it) to the config's maximum.
fn sample_size_of(value: &str) -> Result<u32> {
    use crate::config::{MAX_SAMPLES, MIN_SAMPLES};
    match value.parse::<u32>() {
        Ok(n) if (MIN_SAMPLES..=MAX_SAMPLES).contains(&n) => Ok(n),
        _ => bail!(
            "--sample-size {value:?}: give a whole number from {MIN_SAMPLES} (criterion's minimum) to {MAX_SAMPLES}"
        ),
    }
}

/// criterion's numeric options, checked here: criterion asserts on them and panics.
fn criterion_number(name: &str, value: &str) -> Result<()> {
    let (ok, range): (fn(f64) -> bool, &str) = match name {
        "--confidence-level" | "--significance-level" => (|v| v > 0.0 && v < 1.0, "a fraction between 0 and 1"),
        "--noise-threshold" => (|v| v >= 0.0, "a number ≥ 0"),
        "--nresamples" => (|v| v >= 1.0 && v.fract() == 0.0, "a whole number ≥ 1"),
        _ => (|v| v > 0.0 && v <= 1e6, "a positive number of seconds"),
    };
    match value.parse::<f64>() {
        Ok(v) if v.is_finite() && ok(v) => Ok(()),
        _ => bail!("{name} {value:?}: give {range}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> CliArgs {
        CliArgs::parse(&line.split_whitespace().map(String::from).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn filter_skips_option_values() {
        let a = parse("--bench --save-baseline before minimax/q4_k_s --sample-size 20");
        assert_eq!(a.mode, Mode::Benchmark);
        assert!(a.filter.matches("minimax/q4_k_s/code") && !a.filter.matches("smollm2/q4_1/code"));
        assert_eq!(a.sample_size, Some(20));
        assert_eq!(a.save_baseline.as_deref(), Some("before"));
        let a = parse("--bench --baseline=old --noise-threshold 0.05 smollm2");
        assert!(a.filter.matches("smollm2/q8_0/short") && !a.filter.matches("old"));
        assert_eq!(
            a.baseline,
            Some(Baseline {
                name: "old".into(),
                lenient: false
            })
        );
        assert_eq!(a.noise_threshold, Some(0.05));
        assert!(
            CliArgs::parse(&["--noise-threshold".into(), "5".into()]).is_err(),
            "a fraction, not a percentage"
        );
    }

    #[test]
    fn modes_and_exact() {
        assert!(parse("--bench").filter.is_all());
        assert_eq!(parse("--list --bench").mode, Mode::List);
        assert_eq!(parse("x").mode, Mode::Test);
        let a = parse("--bench --exact smollm2/q4_1/short");
        assert!(a.filter.matches("smollm2/q4_1/short") && !a.filter.matches("smollm2/q4_1/short2"));
        assert!(CliArgs::parse(&["(".into()]).is_err());
    }

    #[test]
    fn out_of_range_sample_sizes_and_load_baseline_are_refused() {
        let err = |line: &str| {
            format!(
                "{:#}",
                CliArgs::parse(&line.split_whitespace().map(String::from).collect::<Vec<_>>()).unwrap_err()
            )
        };
        assert_eq!(
            err("--bench --sample-size 0"),
            "--sample-size \"0\": give a whole number from 10 (criterion's minimum) to 100000"
        );
        assert!(err("--sample-size=100001").starts_with("--sample-size \"100001\": give"));
        assert!(err("--sample-size x").starts_with("--sample-size \"x\": give"));
        assert!(err("--load-baseline old --baseline old").starts_with("--load-baseline is not supported"));
        assert_eq!(
            err("--warm-up-time 0"),
            "--warm-up-time \"0\": give a positive number of seconds"
        );
        assert_eq!(
            err("--confidence-level=1"),
            "--confidence-level \"1\": give a fraction between 0 and 1"
        );
        assert_eq!(parse("--sample-size 10").sample_size, Some(10));
    }
}
