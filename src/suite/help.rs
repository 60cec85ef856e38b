//! The suite's `--help` (`cargo bench --bench llm -- --help`): criterion's options as quantbench
//! uses them, with their real defaults, and quantbench's variables. Printed instead of
//! criterion's own help, whose defaults (100 samples, 1 % noise) are not this suite's.

use crate::config::{self, Config};

/// The help text; defaults read from the config that a run would use.
pub fn text() -> String {
    let config = Config::load_located(None);
    let (source, samples) = match &config {
        Ok(c) => (c.path.display().to_string(), distinct_samples(c)),
        Err(e) => (format!("unreadable: {e:#}"), "the config's `samples`".into()),
    };
    format!(
        "quantbench benchmark suite: one criterion group per model/quant, one benchmark per prompt category.

Usage: cargo bench --bench llm -- [OPTIONS] [FILTER]
       quantbench-suite --bench [OPTIONS] [FILTER]
       (no config at hand? `quantbench run --url URL --model ID` benchmarks a running server)

FILTER is a regular expression over model/quant/category, e.g. minimax/q4_k_s or 'smollm2/q4_1/short'.
Without one, every group of a model with default = true runs (its prompt categories only); load
benchmarks (concurrency, open_loop, prefill), fidelity passes, paired A/B comparisons and groups
with default = false run when the filter names them. --list shows them all, marked.

Options:
  --bench                   measure (cargo bench passes it; without it each benchmark runs once, as a test)
  --list                    list the benchmarks the filter selects, then those it can select by name
  --exact                   the filter is an exact benchmark id, not a regular expression
  --sample-size N           measured generations per benchmark [default: {samples}]
  --save-baseline NAME      save this run's records as baseline NAME (and compare with its previous contents)
  --baseline NAME           compare this run with baseline NAME (error if it does not exist)
  --baseline-lenient NAME   the same, without a comparison when NAME does not exist
  --noise-threshold F       changes smaller than this fraction are never a verdict [default: {noise}, or ${noise_env}]
  -h, --help                this text

criterion's timing options (--warm-up-time, --measurement-time, --nresamples, --confidence-level,
--significance-level) change nothing here: each sample is one generation, warm-ups come from the
config's `warmup`, and intervals are quantbench's (95 %).

Environment:
  {config_env}         the config file [default: ./quantbench.toml, else the built-in one]
  {reports_env}    where run directories and baselines go [default: ./target-reports]
  {noise_env} the verdicts' noise threshold when --noise-threshold is not given [default: {noise}]
  {gate_env}  1: exit 3 when a verdict says regressed
  {cache_env}      where the reference endpoints are installed [default: ~/.cache/quantbench]

Config in use: {source}
Exit status: 0 complete, 1 partial (some benchmarks stopped), 2 failed or not started, 3 regression gate.
",
        noise = crate::compare::DEFAULT_NOISE,
        noise_env = crate::compare::NOISE_ENV,
        config_env = config::CONFIG_ENV,
        reports_env = crate::store::REPORTS_ENV,
        gate_env = super::GATE_ENV,
        cache_env = crate::reference::CACHE_ENV,
    )
}

/// The configured `samples` of the groups, e.g. "10" or "10 (some groups: 20)".
fn distinct_samples(config: &Config) -> String {
    let mut values: Vec<u32> = config.groups.iter().map(|g| g.settings.samples).collect();
    values.sort_unstable();
    values.dedup();
    match values.as_slice() {
        [one] => format!("{one}, the config's `samples`"),
        many => format!(
            "the config's `samples`: {}",
            many.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
        ),
    }
}
