//! `quantbench run --url URL --model ID…`: benchmarks a server the user already runs, with no
//! config file to edit. The command line becomes a config in memory — one group per model on
//! that server, run settings from the located config's `[run]` (or the built-in one) — handed
//! to the same pipeline as `cargo bench` ([`super::run`]): the same records, statistics and
//! reports.

use super::{RunOutcome, SuiteOptions};
use crate::cli_args::{Baseline, CliArgs, Filter, Mode};
use crate::config::{self, Config, ConfigFile, EndpointEntry, ModelEntry, PairedEntry, QuantEntry};
use crate::dialect::ServerKind;
use anyhow::{Context, Result};
use criterion::Criterion;
use indexmap::IndexMap;
use std::path::PathBuf;

/// What `quantbench run` was given.
#[derive(Clone, Debug, Default)]
pub struct EndpointRun {
    /// The server's OpenAI-compatible base URL (a missing `/v1` is added).
    pub url: String,
    /// Model ids as the server lists them; each is a group, run one after another.
    pub models: Vec<String>,
    /// The server kind; detected from the endpoints it answers when absent.
    pub kind: Option<ServerKind>,
    /// Prompt categories to run (empty: the config's).
    pub categories: Vec<String>,
    /// Measured generations per benchmark (absent: the config's `samples`).
    pub samples: Option<u32>,
    pub baseline: Option<String>,
    pub save_baseline: Option<String>,
    pub noise_threshold: Option<f64>,
    /// `--paired`: the two models interleaved on the same prompts (a paired A/B comparison)
    /// instead of one after another.
    pub paired: bool,
    /// `--config`: where the `[run]` settings and `prompts_dir` come from (see [`config::locate`]).
    pub config: Option<PathBuf>,
    pub reports_root: PathBuf,
}

impl EndpointRun {
    /// The server kind: as given, or detected (and said on stderr).
    pub fn kind(&self) -> Result<ServerKind> {
        if let Some(kind) = self.kind {
            return Ok(kind);
        }
        let base = config::normalize_url(&self.url).with_context(|| format!("--url {:?}", self.url))?;
        let root = base.strip_suffix("/v1").unwrap_or(&base).to_owned();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let (kind, why) = rt.block_on(crate::probe::detect_kind(&crate::client::http_client()?, &root));
        eprintln!(
            "quantbench: {base} is taken for {} ({why}; --kind overrides)",
            kind.name()
        );
        Ok(kind)
    }

    /// The config this run uses: the located file's settings and prompts, this server's models.
    pub fn config(&self, kind: ServerKind) -> Result<Config> {
        let (text, path) = config::read_located(self.config.as_deref())?;
        let mut file: ConfigFile =
            toml::from_str(&text).with_context(|| format!("{}: invalid config", path.display()))?;
        let endpoint = EndpointEntry {
            url: self.url.clone(),
            kind,
            api_key_env: None,
            process_name: None,
        };
        file.models = models(&self.models, &endpoint)?;
        file.paired.clear();
        if self.paired {
            let groups: Vec<String> = file
                .models
                .iter()
                .flat_map(|(m, e)| e.quants.keys().map(move |q| format!("{m}/{q}")))
                .collect();
            let [a, b] = groups.as_slice() else {
                anyhow::bail!(
                    "--paired compares two models: give --model twice (got {})",
                    groups.len()
                )
            };
            let name = format!("{}-vs-{}", a.replace('/', "-"), b.replace('/', "-"));
            file.paired.push(PairedEntry {
                name,
                a: a.clone(),
                b: b.clone(),
                pairs: self.samples,
                workload: None,
                sessions: None,
            });
        }
        if !self.categories.is_empty() {
            file.run.categories = Some(self.categories.clone());
        }
        file.run.samples = self.samples.or(file.run.samples);
        Config::from_file(&file, &path)
    }

    /// Runs every model's prompt categories through the suite.
    pub fn run(&self, criterion: Criterion) -> Result<RunOutcome> {
        let config = self.config(self.kind()?)?;
        let cli = CliArgs {
            mode: Mode::Benchmark,
            // Paired comparisons run only when the filter names them.
            filter: if self.paired {
                Filter::Regex(regex::Regex::new("^paired/")?)
            } else {
                Filter::All
            },
            sample_size: None,
            save_baseline: self.save_baseline.clone(),
            baseline: self.baseline.clone().map(|name| Baseline { name, lenient: false }),
            noise_threshold: self.noise_threshold,
        };
        let opts = SuiteOptions {
            cli,
            command: std::env::args().collect(),
            reports_root: self.reports_root.clone(),
        };
        super::run(&config, opts, criterion)
    }

    /// criterion as `run` uses it: its own files under the reports directory, no plots of its
    /// own (the run's report has them).
    pub fn criterion(&self) -> Criterion {
        super::bridge::criterion_without_gnuplot_notice()
            .output_directory(&self.reports_root.join("criterion"))
            .without_plots()
    }
}

/// One model entry per model id: `org/name@quant` and `name:tag` become model `name`, quant
/// `quant`/`tag`; any other id becomes a quant of a model named after the server kind.
fn models(ids: &[String], endpoint: &EndpointEntry) -> Result<IndexMap<String, ModelEntry>> {
    anyhow::ensure!(
        !ids.is_empty(),
        "name at least one model (--model ID, as the server lists it)"
    );
    let mut models: IndexMap<String, ModelEntry> = IndexMap::new();
    for id in ids {
        let (model, quant) = group_name(id, endpoint.kind);
        let entry = models.entry(model).or_insert_with(|| ModelEntry {
            description: None,
            default: true,
            endpoint: Some(endpoint.clone()),
            reference: None,
            quality_reference: None,
            run: Default::default(),
            quants: IndexMap::new(),
        });
        let mut name = quant.clone();
        for n in 2.. {
            if !entry.quants.contains_key(&name) {
                break;
            }
            name = format!("{quant}-{n}");
        }
        let quant = QuantEntry {
            model_id: Some(id.clone()),
            endpoint: None,
            reference: None,
            default: None,
            run: Default::default(),
            variants: IndexMap::new(),
        };
        entry.quants.insert(name, quant);
    }
    Ok(models)
}

/// The `model/quant` group a model id is shown as (both valid names, see `util::is_valid_name`).
pub fn group_name(id: &str, kind: ServerKind) -> (String, String) {
    let last = id.rsplit('/').next().unwrap_or(id);
    let last = last.strip_suffix(".gguf").unwrap_or(last);
    match last.split_once(['@', ':']) {
        Some((model, quant)) if !model.is_empty() && !quant.is_empty() => (name(model), name(quant)),
        _ => (kind.name().to_owned(), name(last)),
    }
}

/// `text` lowercased, anything but letters, digits, `_`, `-` and `.` replaced by `-`.
fn name(text: &str) -> String {
    let mapped: String = text
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_-.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = mapped.trim_matches('-');
    if trimmed.is_empty() {
        "model".into()
    } else {
        trimmed.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_ids_become_valid_group_names() {
        let lms = ServerKind::Lmstudio;
        assert_eq!(
            group_name("unsloth/minimax-m2.1@q4_k_s", lms),
            ("minimax-m2.1".into(), "q4_k_s".into())
        );
        assert_eq!(
            group_name("qwen3-coder:30b-a3b-q4_K_M", ServerKind::Ollama),
            ("qwen3-coder".into(), "30b-a3b-q4_k_m".into())
        );
        assert_eq!(
            group_name("SmolLM2-135M-Instruct-Q4_1.gguf", ServerKind::LlamaServer),
            ("llama-server".into(), "smollm2-135m-instruct-q4_1".into())
        );
        assert_eq!(
            group_name("mlx-community/Qwen3 Coder 4bit", lms),
            ("lmstudio".into(), "qwen3-coder-4bit".into())
        );
        for (m, q) in [group_name("@", lms), group_name("", lms), group_name("Ü", lms)] {
            assert!(
                crate::util::is_valid_name(&m) && crate::util::is_valid_name(&q),
                "{m}/{q}"
            );
        }
    }

    #[test]
    fn each_model_is_a_group_on_the_one_server_with_the_located_settings() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("mine.toml");
        std::fs::write(&file, "[run]\nsamples = 12\nwarmup = 3\n[models.x.quants]\ny = {}\n").unwrap();
        let ids = ["org/a@q4".to_string(), "org/a@q8".into(), "b".into(), "b".into()];
        let run = EndpointRun {
            url: "http://localhost:1234".into(),
            models: ids.to_vec(),
            categories: vec!["short".into()],
            config: Some(file),
            ..Default::default()
        };
        let config = run.config(ServerKind::Lmstudio).unwrap();
        let names: Vec<&str> = config.groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["a/q4", "a/q8", "lmstudio/b", "lmstudio/b-2"]);
        let g = &config.groups[0];
        assert_eq!(
            (g.settings.samples, g.settings.warmup, g.settings.categories.clone()),
            (12, 3, vec!["short".to_string()])
        );
        assert!(matches!(&g.target, config::Target::External { .. }));
        assert!(config.prompts_dir.ends_with("prompts") && config.prompts_dir.starts_with(dir.path()));
        let paired = EndpointRun {
            models: ids[..2].to_vec(),
            paired: true,
            ..run.clone()
        };
        let config = paired.config(ServerKind::Lmstudio).unwrap();
        assert_eq!(
            (
                config.paired[0].name.as_str(),
                config.paired[0].a.as_str(),
                config.paired[0].b.as_str()
            ),
            ("a-q4-vs-a-q8", "a/q4", "a/q8")
        );
        assert!(
            EndpointRun { paired: true, ..run }
                .config(ServerKind::Lmstudio)
                .is_err(),
            "four models cannot be one pair"
        );
    }
}
