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
        let (mut save_baseline, mut baseline) = (None, None);
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
                    "--sample-size" => {
                        sample_size = Some(
                            value
                                .parse()
                                .map_err(|_| anyhow::anyhow!("--sample-size {value:?} is not a number"))?,
                        )
                    }
                    "-s" | "--save-baseline" => save_baseline = Some(value),
                    "-b" | "--baseline" => {
                        baseline = Some(Baseline {
                            name: value,
                            lenient: false,
                        })
                    }
                    "--baseline-lenient" => {
                        baseline = Some(Baseline {
                            name: value,
                            lenient: true,
                        })
                    }
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
        })
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
}
