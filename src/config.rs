//! The suite configuration (`quantbench.toml`): models → quants → endpoint, and run settings.
//!
//! Run settings are layered: `[run]` for every group, `[models.M.run]` for one model, and
//! `[models.M.quants.Q.run]` for one group. Everything is checked when the file is loaded, and
//! every error names the file, the entry and what is wrong.

use crate::client::{Limits, Sampling};
use crate::dialect::{DialectOptions, ServerKind};
use crate::reference;
use crate::util::is_valid_name;
use anyhow::{bail, Context, Result};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Environment variable naming the config file.
pub const CONFIG_ENV: &str = "QUANTBENCH_CONFIG";
/// criterion refuses fewer samples than this.
pub const MIN_SAMPLES: u32 = 10;
/// Most samples a benchmark may take (also for `--sample-size`): more would not fit in memory
/// comfortably and no interval needs them.
pub const MAX_SAMPLES: u32 = 100_000;
/// Longest duration a setting may give (about 11.6 days).
const MAX_SECONDS: f64 = 1e6;

/// Settings that can be given at every level; absent fields fall through to the next level.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSettings {
    /// Measured generations per benchmark (criterion's sample size, at least 10).
    pub samples: Option<u32>,
    /// Warm-up generations per benchmark before sampling (at least 1).
    pub warmup: Option<u32>,
    /// Failed generations a benchmark tolerates before it is abandoned.
    pub max_failures: Option<u32>,
    pub prompt_sets: Option<Vec<String>>,
    /// Keep only prompts in these languages (empty: all).
    pub languages: Option<Vec<String>>,
    /// Keep only these categories (empty: all).
    pub categories: Option<Vec<String>>,
    /// Caps each prompt's `max_tokens` (for small reference models); the record stores what was sent.
    pub max_tokens_cap: Option<u32>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub seed: Option<u64>,
    /// Allow the server's prompt-prefix cache (default off: each sample is a full prefill).
    pub prefix_cache: Option<bool>,
    /// Ask the server to generate exactly `max_tokens` (default off); samples whose count differs
    /// are flagged `length_mismatch`.
    pub fixed_length: Option<bool>,
    /// End-of-generation/end-of-turn token ids that fixed-length decoding suppresses through
    /// `logit_bias` on servers without `ignore_eos` (mlx-lm, LM Studio).
    pub eos_token_ids: Option<Vec<u32>>,
    /// Seconds without any bytes from the server before a request fails.
    pub idle_timeout_s: Option<f64>,
    /// Seconds a whole request may take.
    pub total_timeout_s: Option<f64>,
    /// CPU threads for a managed reference server (default: all cores).
    pub threads: Option<u32>,
    /// Adaptive sampling (opt-in): after the criterion samples, keep sampling until the 95 %
    /// interval of the median decode rate is within ± this fraction of it (e.g. 0.03)...
    pub adaptive_half_width: Option<f64>,
    /// ... or this many samples have been taken (default 100) ...
    pub adaptive_max_samples: Option<u32>,
    /// ... or the benchmark has sampled this long (default 1800 s).
    pub adaptive_max_seconds: Option<f64>,
    /// Load benchmarks (`load`): closed-loop concurrency levels (default 1, 2, 4, 8, 16).
    pub concurrency_levels: Option<Vec<u32>>,
    /// Measured requests per concurrency level (default 32; at least 2 per stream).
    pub concurrency_requests: Option<u32>,
    /// The workload mix: `max_tokens` of each request class, cycled (default 100, 500, 2000).
    /// Given explicitly, so `max_tokens_cap` does not apply to it.
    pub load_mix: Option<Vec<u32>>,
    /// Open-loop arrival rates, requests per second (none by default: no open-loop benchmark).
    pub open_loop_rates: Option<Vec<f64>>,
    /// `poisson` (default, seeded by `seed`) or `constant`.
    pub open_loop_arrivals: Option<crate::load::schedule::Arrivals>,
    /// Requests per open-loop rate (default 32).
    pub open_loop_requests: Option<u32>,
    /// Long-context prefill: target prompt sizes, tokens (default about 1k, 8k, 32k).
    pub prefill_sizes: Option<Vec<u32>>,
    /// Measured samples per prefill size, cold and warm each (default 3).
    pub prefill_samples: Option<u32>,
    /// Fidelity pass (`model/quant/fidelity`, with the model's `quality_reference`): tokens of
    /// each reference answer compared (default 32).
    pub fidelity_tokens: Option<u32>,
    /// Fidelity pass: log-probabilities per position (default 20).
    pub fidelity_top_k: Option<u32>,
    /// `manage`: the suite has the server (LM Studio, Ollama) load the group's model before the
    /// group, timing the load, and unload it after; `leave` (default): the model is left as found.
    pub model_lifecycle: Option<Lifecycle>,
    /// Context length, tokens, sent with LM Studio's load request (needs `model_lifecycle = "manage"`).
    pub context_length: Option<u32>,
    /// Agent sessions (`model/quant/session`): repeats of each session (default 5).
    pub session_repeats: Option<u32>,
    /// `replay` (default: the recorded replies are appended) or `live` (the model's own).
    pub session_mode: Option<crate::prompts::session::Mode>,
    /// Session ids to run (default: every session in the group's languages).
    pub sessions: Option<Vec<String>>,
    /// Each repeat also runs the session with the prefix cache off, interleaved (default false).
    pub session_cache_off_pairs: Option<bool>,
    /// Context depth (`model/quant/depth`): depths in tokens (default 0, 4096, 16384, 32768).
    pub depths: Option<Vec<u32>>,
    /// Repeats at each depth (default 3).
    pub depth_repeats: Option<u32>,
    /// Tokens decoded at each depth (default 32).
    pub depth_decode_tokens: Option<u32>,
}

/// Who loads the model on a server the user runs (see [`RunSettings::model_lifecycle`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    #[default]
    Leave,
    Manage,
}

impl RunSettings {
    /// `self` with gaps filled from `lower`.
    fn over(&self, lower: &RunSettings) -> RunSettings {
        macro_rules! pick {
            ($($f:ident),*) => { RunSettings { $($f: self.$f.clone().or_else(|| lower.$f.clone())),* } };
        }
        pick!(
            samples,
            warmup,
            max_failures,
            prompt_sets,
            languages,
            categories,
            max_tokens_cap,
            temperature,
            top_p,
            seed,
            prefix_cache,
            fixed_length,
            eos_token_ids,
            idle_timeout_s,
            total_timeout_s,
            threads,
            adaptive_half_width,
            adaptive_max_samples,
            adaptive_max_seconds,
            concurrency_levels,
            concurrency_requests,
            load_mix,
            open_loop_rates,
            open_loop_arrivals,
            open_loop_requests,
            prefill_sizes,
            prefill_samples,
            fidelity_tokens,
            fidelity_top_k,
            model_lifecycle,
            context_length,
            session_repeats,
            session_mode,
            sessions,
            session_cache_off_pairs,
            depths,
            depth_repeats,
            depth_decode_tokens
        )
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointEntry {
    /// Base URL, e.g. `http://localhost:1234/v1` (a missing `/v1` is added).
    pub url: String,
    pub kind: ServerKind,
    /// Name of the environment variable holding the API key; the key itself never enters the config.
    pub api_key_env: Option<String>,
    /// Name of the server's process, for memory sampling when it cannot be found by its port
    /// (e.g. a server in a VM or behind a proxy).
    pub process_name: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuantEntry {
    /// The `model` field sent to the endpoint.
    pub model_id: Option<String>,
    pub endpoint: Option<EndpointEntry>,
    /// A built-in reference backend for this quant only, overriding the model's `reference`
    /// (e.g. `mlx-4bit = { reference = "mlx-lm" }` beside the llama-server quants).
    pub reference: Option<reference::Backend>,
    /// Run this group when no filter is given; overrides the model's `default`.
    pub default: Option<bool>,
    #[serde(default)]
    pub run: RunSettings,
    /// Named variants, each its own group `model/quant@variant` (criterion filters match it like
    /// any other name).
    #[serde(default)]
    pub variants: IndexMap<String, VariantEntry>,
}

/// A variant of a quant: the same model served differently (e.g. the seeds' Phase 5
/// `GGML_METAL_*` settings), benchmarked as its own group.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantEntry {
    /// Environment variables for a server the suite starts.
    #[serde(default)]
    pub env: IndexMap<String, String>,
    /// Extra arguments for a server the suite starts.
    #[serde(default)]
    pub server_args: Vec<String>,
    /// Speculative decoding on the llama-server reference: another of its quants as the draft
    /// model (`--model-draft`), e.g. `draft = "q2_k"` on `f16`.
    pub draft: Option<String>,
    /// Run this variant when no filter is given (default: as its quant).
    pub default: Option<bool>,
    /// Settings over the quant's.
    #[serde(default)]
    pub run: RunSettings,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    pub description: Option<String>,
    /// Run this model's groups when no filter is given (default true).
    #[serde(default = "yes")]
    pub default: bool,
    /// Shared by all quants unless a quant names its own.
    pub endpoint: Option<EndpointEntry>,
    /// Use a built-in reference endpoint that quantbench installs and runs itself.
    pub reference: Option<reference::Backend>,
    /// The quant every other quant of this model is compared with token by token (the fidelity
    /// pass), e.g. `bf16` or `q8_0`.
    pub quality_reference: Option<String>,
    #[serde(default)]
    pub run: RunSettings,
    pub quants: IndexMap<String, QuantEntry>,
}

fn yes() -> bool {
    true
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Directory of prompt-set files, relative to the config file (default `prompts`).
    pub prompts_dir: Option<PathBuf>,
    #[serde(default)]
    pub run: RunSettings,
    pub models: IndexMap<String, ModelEntry>,
    /// Paired A/B comparisons (opt-in; run when a filter names `paired/<name>`).
    #[serde(default)]
    pub paired: Vec<PairedEntry>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairedEntry {
    pub name: String,
    /// Group `model/quant` of side A (the reference side of the ratio B / A).
    pub a: String,
    pub b: String,
    /// Pairs per category (default 20); with `workload = "session"`, pairs of passes per
    /// session (default: side A's `session_repeats`).
    pub pairs: Option<u32>,
    /// `categories` (default) or `session`.
    pub workload: Option<PairedWorkload>,
    /// With `workload = "session"`: the session ids to pair (default: side A's sessions).
    pub sessions: Option<Vec<String>>,
}

/// What a paired comparison interleaves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PairedWorkload {
    /// The prompt categories both groups have, prompt by prompt (`paired/<name>/<category>`).
    #[default]
    Categories,
    /// Side A's agent sessions, a whole pass at a time (`paired/<name>/session`).
    Session,
}

/// A validated paired comparison.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Paired {
    pub name: String,
    pub a: String,
    pub b: String,
    pub pairs: u32,
    pub workload: PairedWorkload,
    /// Session ids to pair; empty: side A's sessions.
    pub sessions: Vec<String>,
}

/// Where a group's generations go.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Target {
    /// A server the user runs.
    External {
        url: String,
        kind: ServerKind,
        model_id: String,
        api_key_env: Option<String>,
        process_name: Option<String>,
    },
    /// A built-in reference server, installed and managed by the suite.
    Reference { backend: reference::Backend, quant: String },
}

/// Fully resolved settings of one group.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Settings {
    pub samples: u32,
    pub warmup: u32,
    pub max_failures: u32,
    pub prompt_sets: Vec<String>,
    pub languages: Vec<String>,
    pub categories: Vec<String>,
    pub max_tokens_cap: Option<u32>,
    pub sampling: Sampling,
    pub prefix_cache: bool,
    pub fixed_length: bool,
    pub eos_token_ids: Vec<u32>,
    #[serde(skip)]
    pub limits: Limits,
    pub idle_timeout_s: f64,
    pub total_timeout_s: f64,
    pub threads: Option<u32>,
    pub adaptive: Option<Adaptive>,
    pub load: crate::load::LoadSettings,
    pub session: crate::session::SessionSettings,
    pub fidelity_tokens: u32,
    pub fidelity_top_k: u32,
    pub model_lifecycle: Lifecycle,
    pub context_length: Option<u32>,
}

/// A resolved variant of a group.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Variant {
    pub name: String,
    pub env: Vec<(String, String)>,
    pub server_args: Vec<String>,
    /// The reference quant served as the draft model (speculative decoding).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub draft: Option<String>,
}

/// Adaptive sampling bounds (see [`RunSettings::adaptive_half_width`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Adaptive {
    pub half_width: f64,
    pub max_samples: u32,
    pub max_seconds: f64,
}

/// One criterion group: a model at one quantization.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Group {
    /// `model/quant`, or `model/quant@variant`.
    pub name: String,
    pub model: String,
    /// The quant, with `@variant` for a variant's group.
    pub quant: String,
    /// The variant's name, environment and server arguments.
    pub variant: Option<Variant>,
    pub description: Option<String>,
    pub default: bool,
    pub target: Target,
    /// The group (`model/quant`) this one is compared with in the fidelity pass, from the
    /// model's `quality_reference`; the reference itself names itself.
    pub fidelity_reference: Option<String>,
    pub settings: Settings,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub path: PathBuf,
    pub prompts_dir: PathBuf,
    pub groups: Vec<Group>,
    pub paired: Vec<Paired>,
}

impl Settings {
    /// What the group's dialect is asked to do.
    pub fn dialect_options(&self) -> DialectOptions {
        DialectOptions {
            prefix_cache: self.prefix_cache,
            fixed_length: self.fixed_length,
            eos_token_ids: self.eos_token_ids.clone(),
            server_cache_off: false,
        }
    }
}

impl Config {
    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.name == name)
    }
}

/// The config shipped in the binary, used when no file is given or found: the same text as the
/// repository's `quantbench.toml`, with the built-in prompt sets.
pub const BUILTIN: &str = include_str!("../quantbench.toml");
/// The name the built-in config goes by in messages (its prompts are the built-in sets).
pub const BUILTIN_PATH: &str = "<built-in>/quantbench.toml";

/// The config file to read: `explicit` (`--config`), else `$QUANTBENCH_CONFIG`, else
/// `./quantbench.toml` when the current directory has one; None: the built-in config.
pub fn locate(explicit: Option<&Path>) -> Option<PathBuf> {
    let given = explicit
        .map(Path::to_owned)
        .or_else(|| std::env::var_os(CONFIG_ENV).map(PathBuf::from));
    given.or_else(|| Some(PathBuf::from("quantbench.toml")).filter(|p| p.is_file()))
}

/// The file's text and the path it goes by: the located file, or the built-in config.
pub fn read_located(explicit: Option<&Path>) -> Result<(String, PathBuf)> {
    match locate(explicit) {
        Some(path) => Ok((
            std::fs::read_to_string(&path).with_context(|| format!("reading the config file {}", path.display()))?,
            path,
        )),
        None => Ok((BUILTIN.to_owned(), PathBuf::from(BUILTIN_PATH))),
    }
}

impl Config {
    /// The located config (see [`locate`]), or the built-in one.
    pub fn load_located(explicit: Option<&Path>) -> Result<Config> {
        let (text, path) = read_located(explicit)?;
        Config::parse(&text, &path)
    }

    pub fn load(path: &Path) -> Result<Config> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading the config file {}", path.display()))?;
        Config::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Config> {
        let file: ConfigFile = toml::from_str(text).with_context(|| format!("{}: invalid config", path.display()))?;
        Config::from_file(&file, path)
    }

    /// Resolves a config file's contents; `path` places its relative `prompts_dir` and names it
    /// in errors.
    pub fn from_file(file: &ConfigFile, path: &Path) -> Result<Config> {
        let groups = resolve(file).with_context(|| format!("{}: invalid config", path.display()))?;
        let paired =
            resolve_paired(&file.paired, &groups).with_context(|| format!("{}: invalid config", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let prompts_dir = base.join(file.prompts_dir.as_deref().unwrap_or(Path::new("prompts")));
        Ok(Config {
            path: path.to_owned(),
            prompts_dir,
            groups,
            paired,
        })
    }
}

fn resolve(file: &ConfigFile) -> Result<Vec<Group>> {
    if file.models.is_empty() {
        bail!("no [models] defined");
    }
    check_settings("[run]", &file.run)?;
    let mut groups = Vec::new();
    for (model, entry) in &file.models {
        let at = format!("models.{model}");
        if !is_valid_name(model) {
            bail!("{at}: the name must be lowercase letters, digits, '_', '-' or '.'");
        }
        check_settings(&format!("{at}.run"), &entry.run)?;
        if entry.quants.is_empty() {
            bail!("{at}: no quants defined");
        }
        if entry.reference.is_some() && entry.endpoint.is_some() {
            bail!("{at}: give either `reference` or `endpoint`, not both");
        }
        if let Some(r) = entry
            .quality_reference
            .as_ref()
            .filter(|r| !entry.quants.contains_key(*r))
        {
            bail!(
                "{at}: quality_reference = {r:?} is not one of its quants ({})",
                entry.quants.keys().cloned().collect::<Vec<_>>().join(", ")
            );
        }
        let fidelity_reference = entry.quality_reference.as_ref().map(|r| format!("{model}/{r}"));
        for (quant, q) in &entry.quants {
            let at = format!("{at}.quants.{quant}");
            if !is_valid_name(quant) {
                bail!("{at}: the name must be lowercase letters, digits, '_', '-' or '.'");
            }
            check_settings(&format!("{at}.run"), &q.run)?;
            let target = match (
                q.reference.as_ref().or(entry.reference.as_ref()),
                q.endpoint.as_ref().or(entry.endpoint.as_ref()),
            ) {
                (Some(backend), None) => {
                    if !backend.quants().contains(&quant.as_str()) {
                        bail!(
                            "{at}: the {} reference has no quant {quant:?} (it has {})",
                            backend.name(),
                            backend.quants().join(", ")
                        );
                    }
                    Target::Reference {
                        backend: *backend,
                        quant: quant.clone(),
                    }
                }
                (Some(_), Some(_)) => bail!("{at}: a reference model's quants cannot name an endpoint"),
                (None, Some(ep)) => external_target(&at, ep, q)?,
                (None, None) => bail!("{at}: no endpoint: set `endpoint` on the model or the quant, or `reference`"),
            };
            let merged = q.run.over(&entry.run).over(&file.run);
            check_lifecycle(&at, &merged, &target)?;
            groups.push(Group {
                name: format!("{model}/{quant}"),
                model: model.clone(),
                quant: quant.clone(),
                variant: None,
                description: entry.description.clone(),
                default: q.default.unwrap_or(entry.default),
                target: target.clone(),
                fidelity_reference: fidelity_reference.clone(),
                settings: settings(merged.clone()),
            });
            for (name, v) in &q.variants {
                let at = format!("{at}.variants.{name}");
                if !is_valid_name(name) {
                    bail!("{at}: the name must be lowercase letters, digits, '_', '-' or '.'");
                }
                check_settings(&format!("{at}.run"), &v.run)?;
                check_lifecycle(&at, &v.run.over(&merged), &target)?;
                if matches!(target, Target::External { .. }) && (!v.env.is_empty() || !v.server_args.is_empty()) {
                    bail!("{at}: `env` and `server_args` apply only to servers the suite starts; for your own server, set them where you start it and give the variant only `run` settings");
                }
                if let Some(draft) = &v.draft {
                    let backend = reference::Backend::LlamaServer;
                    if !matches!(target, Target::Reference { backend: b, .. } if b == backend) {
                        bail!("{at}: `draft` applies only to the llama-server reference (it starts the server with --model-draft)");
                    }
                    if !backend.quants().contains(&draft.as_str()) {
                        bail!(
                            "{at}: draft = {draft:?} is not a quant of the llama-server reference (it has {})",
                            backend.quants().join(", ")
                        );
                    }
                }
                groups.push(Group {
                    name: format!("{model}/{quant}@{name}"),
                    model: model.clone(),
                    quant: format!("{quant}@{name}"),
                    variant: Some(Variant {
                        name: name.clone(),
                        env: v.env.clone().into_iter().collect(),
                        server_args: v.server_args.clone(),
                        draft: v.draft.clone(),
                    }),
                    description: entry.description.clone(),
                    default: v.default.or(q.default).unwrap_or(entry.default),
                    target: target.clone(),
                    fidelity_reference: fidelity_reference.clone(),
                    settings: settings(v.run.over(&merged)),
                });
            }
        }
    }
    Ok(groups)
}

fn resolve_paired(entries: &[PairedEntry], groups: &[Group]) -> Result<Vec<Paired>> {
    let mut out: Vec<Paired> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let at = format!("paired[{i}] ({:?})", e.name);
        if !is_valid_name(&e.name) {
            bail!("{at}: the name must be lowercase letters, digits, '_', '-' or '.'");
        }
        if out.iter().any(|p| p.name == e.name) {
            bail!("{at}: the name is used twice");
        }
        for side in [&e.a, &e.b] {
            if !groups.iter().any(|g| &g.name == side) {
                bail!("{at}: no group {side:?} (groups are model/quant, e.g. smollm2/q4_1)");
            }
        }
        if e.a == e.b {
            bail!("{at}: a and b are the same group");
        }
        let workload = e.workload.unwrap_or_default();
        let side = |name: &str| groups.iter().find(|g| g.name == name).expect("checked above");
        let (a, b) = (&side(&e.a).settings.session, &side(&e.b).settings.session);
        let pairs = match workload {
            PairedWorkload::Categories => e.pairs.unwrap_or(20),
            PairedWorkload::Session if a.mode != b.mode => {
                bail!("{at}: a and b replay sessions differently (session_mode); set the same on both")
            }
            PairedWorkload::Session => e.pairs.unwrap_or(a.repeats),
        };
        if pairs < 2 {
            bail!("{at}: pairs = {pairs}: at least 2 pairs are needed for an interval");
        }
        if e.sessions.is_some() && workload != PairedWorkload::Session {
            bail!("{at}: `sessions` needs workload = \"session\"");
        }
        out.push(Paired {
            name: e.name.clone(),
            a: e.a.clone(),
            b: e.b.clone(),
            pairs,
            workload,
            sessions: e.sessions.clone().unwrap_or_default(),
        });
    }
    Ok(out)
}

fn external_target(at: &str, ep: &EndpointEntry, q: &QuantEntry) -> Result<Target> {
    let url = normalize_url(&ep.url).with_context(|| format!("{at}: endpoint url {:?}", ep.url))?;
    let Some(model_id) = q.model_id.clone().filter(|m| !m.is_empty()) else {
        bail!("{at}: `model_id` (the model name the server expects) is required");
    };
    if let Some(var) = &ep.api_key_env {
        if var.is_empty() {
            bail!("{at}: api_key_env is empty; name an environment variable");
        }
        // Known as a secret from here on: redacted wherever a server echoes it.
        if let Ok(key) = std::env::var(var) {
            crate::util::register_secret(var, &key);
        }
    }
    Ok(Target::External {
        url,
        kind: ep.kind,
        model_id,
        api_key_env: ep.api_key_env.clone(),
        process_name: ep.process_name.clone(),
    })
}

/// Parses and checks a base URL; ensures it ends in `/v1`.
pub fn normalize_url(raw: &str) -> Result<String> {
    let url = reqwest::Url::parse(raw).map_err(|e| anyhow::anyhow!("not a URL: {e}"))?;
    // The URL standard reads `http:///v1` as host `v1`: an empty authority is a missing host.
    if raw
        .split_once("://")
        .is_some_and(|(_, rest)| rest.starts_with('/') || rest.is_empty())
    {
        bail!("no host (write http://host:port/v1)");
    }
    match url.scheme() {
        "http" => {}
        "https" => bail!("https is not supported by this build (local endpoints speak plain http)"),
        other => bail!("unsupported scheme {other:?}; use http://host:port/v1"),
    }
    if url.host_str().is_none() {
        bail!("no host");
    }
    let trimmed = url.as_str().trim_end_matches('/');
    Ok(if trimmed.ends_with("/v1") {
        trimmed.to_owned()
    } else {
        format!("{trimmed}/v1")
    })
}

fn check_settings(at: &str, s: &RunSettings) -> Result<()> {
    let fail = |what: String| -> Result<()> { bail!("{at}: {what}") };
    if let Some(n) = s.samples.filter(|&n| n < MIN_SAMPLES) {
        fail(format!("samples = {n}: criterion needs at least {MIN_SAMPLES}"))?;
    }
    if s.warmup == Some(0) {
        fail("warmup = 0: at least one warm-up generation is needed (criterion runs one itself)".into())?;
    }
    // Upper bounds: a typo of a few digits must be an error, not an allocation that aborts.
    let most = [
        ("samples", s.samples, MAX_SAMPLES),
        ("warmup", s.warmup, 1000),
        ("max_failures", s.max_failures, MAX_SAMPLES),
        ("adaptive_max_samples", s.adaptive_max_samples, MAX_SAMPLES),
        ("max_tokens_cap", s.max_tokens_cap, 1_000_000),
        ("threads", s.threads, 1024),
        ("context_length", s.context_length, 10_000_000),
    ];
    for (name, value, max) in most {
        if let Some(v) = value.filter(|&v| v > max) {
            fail(format!("{name} = {v}: at most {max}"))?;
        }
    }
    if s.max_tokens_cap == Some(0) {
        fail("max_tokens_cap must be at least 1".into())?;
    }
    if let Some(t) = s.temperature.filter(|t| !(0.0..=2.0).contains(t)) {
        fail(format!("temperature = {t:?}: must be from 0 to 2 (as in prompt files)"))?;
    }
    if let Some(p) = s.top_p.filter(|p| !(*p > 0.0 && *p <= 1.0)) {
        fail(format!("top_p = {p}: must be in (0, 1]"))?;
    }
    for (name, v) in [
        ("idle_timeout_s", s.idle_timeout_s),
        ("total_timeout_s", s.total_timeout_s),
    ] {
        if let Some(v) = v.filter(|v| !(v.is_finite() && *v > 0.0 && *v <= MAX_SECONDS)) {
            fail(format!(
                "{name} = {v}: must be a positive number of seconds, at most {MAX_SECONDS}"
            ))?;
        }
    }
    if s.threads == Some(0) {
        fail("threads must be at least 1".into())?;
    }
    if let Some(h) = s.adaptive_half_width.filter(|h| !(*h > 0.0 && *h < 1.0)) {
        fail(format!(
            "adaptive_half_width = {h}: must be a fraction in (0, 1), e.g. 0.03"
        ))?;
    }
    if let Some(v) = s
        .adaptive_max_seconds
        .filter(|v| !(v.is_finite() && *v > 0.0 && *v <= MAX_SECONDS))
    {
        fail(format!(
            "adaptive_max_seconds = {v}: must be a positive number of seconds, at most {MAX_SECONDS}"
        ))?;
    }
    if s.context_length == Some(0) {
        fail("context_length must be at least 1".into())?;
    }
    if s.prompt_sets.as_ref().is_some_and(Vec::is_empty) {
        fail("prompt_sets is empty".into())?;
    }
    check_load_settings(s).map_err(|e| anyhow::anyhow!("{at}: {e}"))
}

/// `context_length` is sent only with LM Studio's load request, which the suite makes only when
/// it manages the model's lifecycle: anywhere else it would silently do nothing.
fn check_lifecycle(at: &str, s: &RunSettings, target: &Target) -> Result<()> {
    let Some(n) = s.context_length else { return Ok(()) };
    match target {
        Target::External { kind: ServerKind::Lmstudio, .. } if s.model_lifecycle == Some(Lifecycle::Manage) => Ok(()),
        Target::External { kind: ServerKind::Lmstudio, .. } => {
            bail!("{at}: context_length = {n} is sent when the suite loads the model: set model_lifecycle = \"manage\" too")
        }
        Target::External { kind, .. } => bail!("{at}: context_length applies only to lmstudio endpoints (sent with LM Studio's load request); set the context where you start your {} server", kind.name()),
        Target::Reference { .. } => bail!("{at}: context_length applies only to lmstudio endpoints; for the reference server use a variant with server_args = [\"--ctx-size\", \"{n}\"]"),
    }
}

/// The load benchmarks' settings; one process drives at most `MAX_STREAMS` streams.
fn check_load_settings(s: &RunSettings) -> Result<()> {
    const MAX_STREAMS: u32 = 1024;
    if let Some(levels) = &s.concurrency_levels {
        if levels.is_empty() || levels.iter().any(|&n| n == 0 || n > MAX_STREAMS) {
            bail!("concurrency_levels = {levels:?}: give one or more levels from 1 to {MAX_STREAMS}");
        }
    }
    if let Some(sizes) = s
        .prefill_sizes
        .as_ref()
        .filter(|v| v.is_empty() || v.iter().any(|&n| n == 0 || n > 10_000_000))
    {
        bail!("prefill_sizes = {sizes:?}: give one or more prompt sizes in tokens, each from 1 to 10000000");
    }
    if let Some(depths) = s.depths.as_ref().filter(|v| v.is_empty()) {
        bail!("depths = {depths:?}: give one or more context depths in tokens");
    }
    let counts = [
        ("session_repeats", s.session_repeats),
        ("depth_repeats", s.depth_repeats),
        ("depth_decode_tokens", s.depth_decode_tokens),
    ];
    for (name, v) in [
        ("concurrency_requests", s.concurrency_requests),
        ("open_loop_requests", s.open_loop_requests),
        ("prefill_samples", s.prefill_samples),
    ]
    .into_iter()
    .chain(counts)
    {
        if let Some(v) = v.filter(|&v| v == 0 || v > 100_000) {
            bail!("{name} = {v}: must be from 1 to 100000");
        }
    }
    if let Some(v) = s.fidelity_tokens.filter(|&v| v == 0 || v > 4096) {
        bail!("fidelity_tokens = {v}: must be from 1 to 4096");
    }
    if let Some(v) = s.fidelity_top_k.filter(|v| !(2..=100).contains(v)) {
        bail!("fidelity_top_k = {v}: must be from 2 to 100");
    }
    if let Some(mix) = s
        .load_mix
        .as_ref()
        .filter(|m| m.is_empty() || m.iter().any(|&n| n == 0 || n > 1_000_000))
    {
        bail!("load_mix = {mix:?}: give one or more max_tokens values, each from 1 to 1000000");
    }
    if let Some(rates) = s
        .open_loop_rates
        .as_ref()
        .filter(|r| r.iter().any(|v| !(v.is_finite() && *v > 0.0 && *v <= 1e6)))
    {
        bail!("open_loop_rates = {rates:?}: each rate must be a positive number of requests per second");
    }
    Ok(())
}

fn settings(s: RunSettings) -> Settings {
    let defaults = Sampling::default();
    let limits = Limits::default();
    let idle = s.idle_timeout_s.unwrap_or(limits.idle.as_secs_f64());
    let total = s.total_timeout_s.unwrap_or(limits.total.as_secs_f64());
    let samples = s.samples.unwrap_or(MIN_SAMPLES);
    Settings {
        samples,
        warmup: s.warmup.unwrap_or(1),
        max_failures: s.max_failures.unwrap_or(samples),
        prompt_sets: s.prompt_sets.unwrap_or_else(|| vec!["standard".into()]),
        languages: s.languages.unwrap_or_default(),
        categories: s.categories.unwrap_or_default(),
        max_tokens_cap: s.max_tokens_cap,
        sampling: Sampling {
            temperature: s.temperature.unwrap_or(defaults.temperature),
            top_p: s.top_p.unwrap_or(defaults.top_p),
            seed: s.seed.or(defaults.seed),
        },
        prefix_cache: s.prefix_cache.unwrap_or(false),
        fixed_length: s.fixed_length.unwrap_or(false),
        eos_token_ids: s.eos_token_ids.unwrap_or_default(),
        limits: Limits {
            idle: Duration::from_secs_f64(idle),
            total: Duration::from_secs_f64(total),
            ..limits
        },
        idle_timeout_s: idle,
        total_timeout_s: total,
        threads: s.threads,
        adaptive: s.adaptive_half_width.map(|half_width| Adaptive {
            half_width,
            max_samples: s.adaptive_max_samples.unwrap_or(100).max(samples),
            max_seconds: s.adaptive_max_seconds.unwrap_or(1800.0),
        }),
        load: crate::load::LoadSettings {
            concurrency_levels: s
                .concurrency_levels
                .unwrap_or_else(|| crate::load::LoadSettings::DEFAULT_LEVELS.to_vec()),
            concurrency_requests: s
                .concurrency_requests
                .unwrap_or(crate::load::LoadSettings::DEFAULT_REQUESTS),
            load_mix: s
                .load_mix
                .unwrap_or_else(|| crate::load::LoadSettings::DEFAULT_MIX.to_vec()),
            open_loop_rates: s.open_loop_rates.unwrap_or_default(),
            open_loop_arrivals: s.open_loop_arrivals.unwrap_or(crate::load::schedule::Arrivals::Poisson),
            open_loop_requests: s
                .open_loop_requests
                .unwrap_or(crate::load::LoadSettings::DEFAULT_REQUESTS),
            prefill_sizes: s
                .prefill_sizes
                .unwrap_or_else(|| crate::prefill::DEFAULT_SIZES.to_vec()),
            prefill_samples: s.prefill_samples.unwrap_or(crate::prefill::DEFAULT_SAMPLES),
        },
        session: crate::session::SessionSettings {
            repeats: s
                .session_repeats
                .unwrap_or(crate::session::SessionSettings::DEFAULT_REPEATS),
            mode: s.session_mode.unwrap_or_default(),
            ids: s.sessions.unwrap_or_default(),
            cache_off_pairs: s.session_cache_off_pairs.unwrap_or(false),
            depths: s
                .depths
                .unwrap_or_else(|| crate::session::SessionSettings::DEFAULT_DEPTHS.to_vec()),
            depth_repeats: s
                .depth_repeats
                .unwrap_or(crate::session::SessionSettings::DEFAULT_DEPTH_REPEATS),
            depth_decode_tokens: s
                .depth_decode_tokens
                .unwrap_or(crate::session::SessionSettings::DEFAULT_DEPTH_DECODE_TOKENS),
        },
        fidelity_tokens: s.fidelity_tokens.unwrap_or(32),
        fidelity_top_k: s.fidelity_top_k.unwrap_or(20),
        model_lifecycle: s.model_lifecycle.unwrap_or_default(),
        context_length: s.context_length,
    }
}

#[cfg(test)]
mod tests;
