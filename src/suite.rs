//! The criterion glue: choose the groups the filter selects (before touching any endpoint), set
//! up each group's endpoint, run one criterion benchmark per prompt category with one generation
//! per criterion iteration, and keep records, summary and metadata on disk as the run goes.

use crate::cli_args::{CliArgs, Filter, Mode};
use crate::client::{self, Endpoint, GenerationRequest};
use crate::config::{Config, Group, Target};
use crate::dialect::{self, DialectOptions, ServerKind};
use crate::generation::{self, SampleContext};
use crate::managed::{self, ManagedServer};
use crate::metadata::{self, GroupRun, Metadata, RunStatus};
use crate::progress::Progress;
use crate::prompts::{Category, PromptLibrary, Selection};
use crate::record::GenerationRecord;
use crate::reference::{self, Backend, Manifest};
use crate::store::{self, RunStore};
use crate::summary::{self, Summary};
use crate::sysmon;
use anyhow::{bail, Context, Result};
use criterion::{Criterion, SamplingMode};
use std::cell::RefCell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One group and the categories the filter selected in it.
#[derive(Debug)]
pub struct PlannedGroup<'a> {
    pub group: &'a Group,
    pub categories: Vec<Category<'a>>,
}

/// Benchmark id as criterion shows and filters it: `model/quant/category`.
pub fn benchmark_id(group: &Group, category: &str) -> String {
    format!("{}/{category}", group.name)
}

/// The groups and categories to run. Without a filter, models marked `default = false` are left
/// out (they need a server the user starts); with one, anything it matches runs.
pub fn plan<'a>(config: &'a Config, prompts: &'a PromptLibrary, filter: &Filter) -> Result<Vec<PlannedGroup<'a>>> {
    let mut planned = Vec::new();
    for group in &config.groups {
        if filter.is_all() && !group.default {
            continue;
        }
        let s = &group.settings;
        let selection = Selection { sets: &s.prompt_sets, languages: &s.languages, categories: &s.categories };
        let categories: Vec<Category> = prompts
            .select(&selection)
            .with_context(|| format!("{}: group {}", config.path.display(), group.name))?
            .into_iter()
            .filter(|c| filter.matches(&benchmark_id(group, c.name)))
            .collect();
        if !categories.is_empty() {
            planned.push(PlannedGroup { group, categories });
        }
    }
    Ok(planned)
}

/// Everything `run` needs besides the config.
pub struct SuiteOptions {
    pub cli: CliArgs,
    pub command: Vec<String>,
    pub reports_root: PathBuf,
}

/// How a run ended.
#[derive(Debug)]
pub struct RunOutcome {
    pub run_dir: Option<PathBuf>,
    pub summary: Option<Summary>,
    /// Benchmarks stopped early: (group, category, reason).
    pub abandoned: Vec<(String, String, String)>,
}

/// Entry point of `benches/llm.rs`.
pub fn main() -> ExitCode {
    let command: Vec<String> = std::env::args().collect();
    let result = CliArgs::parse(&command[1..]).and_then(|cli| {
        let config = Config::load(&crate::config::default_path())?;
        let criterion = Criterion::default().configure_from_args();
        run(&config, SuiteOptions { cli, command, reports_root: store::reports_root() }, criterion)
    });
    match result {
        Ok(outcome) if outcome.abandoned.is_empty() => ExitCode::SUCCESS,
        Ok(outcome) => {
            eprintln!("quantbench: {} benchmark(s) stopped early:", outcome.abandoned.len());
            for (group, category, reason) in &outcome.abandoned {
                eprintln!("  {group}/{category}: {reason}");
            }
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("quantbench: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs the selected benchmarks. Errors are problems found before measuring (config, prompts,
/// unreachable endpoints, install) or that make further measurement pointless (disk full).
pub fn run(config: &Config, opts: SuiteOptions, criterion: Criterion) -> Result<RunOutcome> {
    let prompts = PromptLibrary::load_dir(&config.prompts_dir)?;
    let planned = plan(config, &prompts, &opts.cli.filter)?;
    let mut criterion = criterion.warm_up_time(Duration::from_nanos(1)).measurement_time(Duration::from_nanos(1));
    if planned.is_empty() {
        let names: Vec<&str> = config.groups.iter().map(|g| g.name.as_str()).collect();
        bail!("no benchmark matches the filter {}; groups in {}: {}", opts.cli.filter.describe(), config.path.display(), names.join(", "));
    }
    if opts.cli.mode == Mode::List {
        for p in &planned {
            let mut group = criterion.benchmark_group(&p.group.name);
            for c in &p.categories {
                group.bench_function(c.name, |_| {});
            }
        }
        return Ok(RunOutcome { run_dir: None, summary: None, abandoned: Vec::new() });
    }

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let http = client::http_client()?;
    rt.block_on(preflight(&planned, &http))?;
    let reference = if planned.iter().any(|p| matches!(p.group.target, Target::Reference { .. })) {
        Some(reference::ensure_installed(&|m| eprintln!("quantbench: {m}"))?)
    } else {
        None
    };

    let run_id = store::new_run_id();
    let store = RunStore::create(&opts.reports_root, &run_id)?;
    let metadata = Metadata {
        schema: metadata::METADATA_SCHEMA,
        run: run_id.clone(),
        status: RunStatus::Running,
        error: None,
        started_at: now(),
        ended_at: None,
        command: opts.command.clone(),
        filter: opts.cli.filter.describe(),
        git: metadata::git_info(std::path::Path::new(env!("CARGO_MANIFEST_DIR"))),
        config_path: config.path.clone(),
        config: planned.iter().map(|p| p.group.clone()).collect(),
        machine: sysmon::machine(),
        reference: reference.clone(),
        groups: Vec::new(),
    };
    let state = Arc::new(Mutex::new(RunState { store, metadata, records: Vec::new(), abandoned: Vec::new() }));
    lock(&state).save_metadata()?;
    eprintln!("quantbench: run {run_id}: records in {}", lock(&state).store.dir.display());
    rt.spawn(stop_on_signal(state.clone()));

    let progress = RefCell::new(Progress::new(0));
    let suite = Suite { rt: &rt, http: &http, state: &state, progress: &progress, run_id: &run_id, reference: reference.as_ref(), sample_size: opts.cli.sample_size };
    let planned_generations: u64 = planned.iter().map(|p| p.categories.len() as u64 * u64::from(p.group.settings.warmup + suite.samples_for(p.group))).sum();
    *progress.borrow_mut() = Progress::new(planned_generations);

    for p in &planned {
        let mut group = criterion.benchmark_group(&p.group.name);
        group.sampling_mode(SamplingMode::Flat);
        group.sample_size(suite.samples_for(p.group) as usize);
        if let Err(e) = suite.run_group(p, &mut group) {
            progress.borrow().finish();
            lock(&state).finish(RunStatus::Failed, Some(format!("{e:#}")))?;
            return Err(e);
        }
    }
    progress.borrow().finish();
    criterion.final_summary();
    let mut state = lock(&state);
    let summary = state.finish(RunStatus::Complete, None)?;
    print_summary(&summary, &state.store.dir);
    Ok(RunOutcome { run_dir: Some(state.store.dir.clone()), summary: Some(summary), abandoned: state.abandoned.clone() })
}

/// Checks external endpoints answer and their API keys are set, before anything is measured.
async fn preflight(planned: &[PlannedGroup<'_>], http: &reqwest::Client) -> Result<()> {
    let mut problems = Vec::new();
    for p in planned {
        let Target::External { url, kind, api_key_env, .. } = &p.group.target else { continue };
        if let Some(var) = api_key_env {
            if std::env::var(var).map_or(true, |v| v.is_empty()) {
                problems.push(format!("{}: the API key variable {var} is not set", p.group.name));
                continue;
            }
        }
        let models = format!("{url}/models");
        if let Err(e) = http.get(&models).timeout(Duration::from_secs(5)).send().await {
            problems.push(format!("{}: no {} server answers at {url} ({}).\n    {}", p.group.name, summary::serde_name(kind), client::error_chain(&e), start_hint(*kind, url)));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    bail!(
        "no usable endpoint, nothing was measured:\n  {}\n  To run only the built-in reference endpoint instead: cargo bench --bench llm -- smollm2",
        problems.join("\n  ")
    )
}

fn start_hint(kind: ServerKind, url: &str) -> String {
    match kind {
        ServerKind::Lmstudio => "Start LM Studio's server and load the model: `lms server start --port 1234` then `lms load <model>`.".into(),
        ServerKind::LlamaServer => format!("Start it: `llama-server -m <model.gguf> --port <port>` so that {url} answers."),
        ServerKind::MlxLm => format!("Start it: `mlx_lm.server --model <model> --port <port>` so that {url} answers."),
        ServerKind::VllmMlx => format!("Start it: `vllm-mlx serve <model> --port <port>` so that {url} answers."),
        ServerKind::Ollama => "Start it: `ollama serve` (and `ollama pull <model>`).".into(),
        ServerKind::Vllm => format!("Start it: `vllm serve <model> --port <port>` so that {url} answers."),
        ServerKind::Openai => format!("Start the server so that {url} answers, or fix the url in the config."),
    }
}

/// What the run writes as it goes; shared with the signal handler.
struct RunState {
    store: RunStore,
    metadata: Metadata,
    records: Vec<GenerationRecord>,
    abandoned: Vec<(String, String, String)>,
}

impl RunState {
    fn record(&mut self, record: GenerationRecord) -> Result<()> {
        self.store.append(&record)?;
        self.records.push(record);
        Ok(())
    }

    fn summary(&self) -> Summary {
        summary::summarize(&self.metadata.run, &self.records, &self.abandoned)
    }

    fn save_summary(&self) -> Result<()> {
        self.store.write("summary.json", &self.summary())
    }

    fn save_metadata(&self) -> Result<()> {
        self.store.write("metadata.json", &self.metadata)
    }

    fn finish(&mut self, status: RunStatus, error: Option<String>) -> Result<Summary> {
        self.metadata.status = status;
        self.metadata.error = error;
        self.metadata.ended_at = Some(now());
        self.save_metadata()?;
        let summary = self.summary();
        self.store.write("summary.json", &summary)?;
        Ok(summary)
    }
}

fn lock(state: &Mutex<RunState>) -> std::sync::MutexGuard<'_, RunState> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// On Ctrl-C or SIGTERM: stop managed servers, mark the run interrupted, keep every record
/// written so far (the lock waits for a record being written), exit 130.
async fn stop_on_signal(state: Arc<Mutex<RunState>>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else { return };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
    managed::stop_all();
    let mut state = lock(&state);
    let kept = state.records.len();
    let _ = state.finish(RunStatus::Interrupted, Some("interrupted by a signal".into()));
    eprintln!("\nquantbench: interrupted; {kept} records kept in {}", state.store.dir.display());
    std::process::exit(130);
}

/// Payload of the unwinding that abandons one benchmark (criterion has no other way to stop a
/// benchmark, and must never receive a made-up duration).
struct Abandon(String);
/// Payload that ends the run: measuring on is pointless (e.g. records cannot be written).
struct Fatal(anyhow::Error);

struct Suite<'a> {
    rt: &'a tokio::runtime::Runtime,
    http: &'a reqwest::Client,
    state: &'a Mutex<RunState>,
    progress: &'a RefCell<Progress>,
    run_id: &'a str,
    reference: Option<&'a Manifest>,
    /// `--sample-size`, which overrides the config.
    sample_size: Option<u32>,
}

impl Suite<'_> {
    fn samples_for(&self, g: &Group) -> u32 {
        self.sample_size.unwrap_or(g.settings.samples)
    }

    fn run_group(&self, p: &PlannedGroup<'_>, group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) -> Result<()> {
        let g = p.group;
        let options = DialectOptions { prefix_cache: g.settings.prefix_cache };
        let (endpoint, server, run_info) = match &g.target {
            Target::External { url, kind, model_id, api_key_env } => {
                let api_key = api_key_env.as_ref().and_then(|v| std::env::var(v).ok());
                let endpoint = Endpoint { base_url: url.clone(), model_id: model_id.clone(), api_key, dialect: dialect::for_kind(*kind, options) };
                let info = GroupRun { name: g.name.clone(), base_url: url.clone(), model_id: model_id.clone(), managed: false, load_time_s: None, model_file: None, model_file_bytes: None, server_info: None, server_log: None };
                (endpoint, None, info)
            }
            Target::Reference { backend, quant } => match self.start_reference(g, *backend, quant) {
                Ok(started) => started,
                Err(e) => {
                    let reason = format!("the reference server did not start: {e:#}");
                    self.progress.borrow().say(&format!("quantbench: {}: {reason}", g.name));
                    let mut state = lock(self.state);
                    for c in &p.categories {
                        state.abandoned.push((g.name.clone(), c.name.to_owned(), reason.clone()));
                    }
                    return state.save_summary();
                }
            },
        };
        {
            let mut state = lock(self.state);
            state.metadata.groups.push(run_info);
            state.save_metadata()?;
        }
        let server = server.map(RefCell::new);
        for category in &p.categories {
            let died = server.as_ref().and_then(|s| {
                let mut s = s.borrow_mut();
                (!s.is_running()).then(|| format!("the managed server exited; its log {} ends:\n{}", s.log_path.display(), managed::log_tail(&s.log_path, 8)))
            });
            let outcome = match died {
                Some(reason) => Err(Box::new(Abandon(reason)) as Box<dyn std::any::Any + Send>),
                None => {
                    let mut bench = BenchmarkRun::new(self, g, category, &endpoint);
                    catch_unwind(AssertUnwindSafe(|| {
                        group.bench_function(category.name, |b| b.iter_custom(|iters| bench.measure(iters)));
                    }))
                }
            };
            if let Err(payload) = outcome {
                let payload = match payload.downcast::<Fatal>() {
                    Ok(fatal) => return Err(fatal.0),
                    Err(other) => other,
                };
                let Abandon(reason) = *payload.downcast::<Abandon>().unwrap_or_else(|other| resume_unwind(other));
                self.progress.borrow().say(&format!("\nquantbench: {}: stopped early: {reason}", benchmark_id(g, category.name)));
                lock(self.state).abandoned.push((g.name.clone(), category.name.to_owned(), reason));
            }
            lock(self.state).save_summary()?;
        }
        Ok(())
    }

    /// Starts the reference server for one quant; returns its endpoint, the process and what
    /// the metadata records about it.
    fn start_reference(&self, g: &Group, backend: Backend, quant: &str) -> Result<(Endpoint, Option<ManagedServer>, GroupRun)> {
        let manifest = self.reference.context("the reference endpoint is not installed")?;
        let model = manifest.model(quant).with_context(|| format!("the reference install has no {quant} model"))?;
        let port = managed::free_port()?;
        let threads = g.settings.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get() as u32));
        let log_path = lock(self.state).store.dir.join(format!("server-{}.log", g.name.replace('/', "_")));
        let spec = reference::launch_spec(manifest, backend, quant, port, threads, log_path.clone())?;
        let server = self.rt.block_on(ManagedServer::start(&spec, self.http))?;
        self.progress.borrow().say(&format!("quantbench: {}: {} ready in {:.2} s (pid {}, {threads} threads)", g.name, backend.name(), server.load_time.as_secs_f64(), server.pid()));
        let server_info = self.rt.block_on(async {
            let props = self.http.get(format!("http://127.0.0.1:{port}/props")).timeout(Duration::from_secs(5)).send().await.ok()?;
            let props: serde_json::Value = props.json().await.ok()?;
            Some(serde_json::json!({ "build_info": props.get("build_info"), "model_path": props.get("model_path"), "total_slots": props.get("total_slots") }))
        });
        let model_id = model.path.file_stem().map_or_else(|| quant.to_owned(), |s| s.to_string_lossy().into_owned());
        let endpoint = Endpoint {
            base_url: server.base_url.clone(),
            model_id: model_id.clone(),
            api_key: None,
            dialect: dialect::for_kind(ServerKind::LlamaServer, DialectOptions { prefix_cache: g.settings.prefix_cache }),
        };
        let info = GroupRun {
            name: g.name.clone(),
            base_url: server.base_url.clone(),
            model_id,
            managed: true,
            load_time_s: Some(server.load_time.as_secs_f64()),
            model_file: Some(model.path.clone()),
            model_file_bytes: Some(model.bytes),
            server_info,
            server_log: Some(log_path),
        };
        Ok((endpoint, Some(server), info))
    }
}

/// One criterion benchmark: a group × category, driven by criterion's calls.
struct BenchmarkRun<'a> {
    suite: &'a Suite<'a>,
    group: &'a Group,
    category: &'a Category<'a>,
    endpoint: &'a Endpoint,
    calls: u32,
    warmups: u32,
    samples: u32,
    failures: u32,
}

impl<'a> BenchmarkRun<'a> {
    fn new(suite: &'a Suite<'a>, group: &'a Group, category: &'a Category<'a>, endpoint: &'a Endpoint) -> Self {
        BenchmarkRun { suite, group, category, endpoint, calls: 0, warmups: 0, samples: 0, failures: 0 }
    }

    /// criterion's `iter_custom`: run `iters` successful generations and return the sum of their
    /// end-to-end times. criterion's first call is its warm-up; the explicit warm-ups run before it.
    fn measure(&mut self, iters: u64) -> Duration {
        let warmup = self.calls == 0;
        self.calls += 1;
        if warmup {
            for _ in 1..self.group.settings.warmup {
                self.successful_generation(true);
            }
        }
        (0..iters).map(|_| self.successful_generation(warmup)).sum()
    }

    /// Generates until one succeeds; each failure is recorded. Too many failures abandon the
    /// benchmark rather than hand criterion a made-up duration.
    fn successful_generation(&mut self, warmup: bool) -> Duration {
        loop {
            let record = self.generate(warmup);
            if let (true, Some(end)) = (record.ok, record.t.end_ns) {
                return Duration::from_nanos(end);
            }
            self.failures += 1;
            if self.failures > self.group.settings.max_failures {
                resume_unwind(Box::new(Abandon(format!(
                    "{} generations failed (max_failures = {}); last: {}",
                    self.failures,
                    self.group.settings.max_failures,
                    record.error.as_deref().unwrap_or("?")
                ))));
            }
        }
    }

    fn generate(&mut self, warmup: bool) -> GenerationRecord {
        let counter = if warmup { &mut self.warmups } else { &mut self.samples };
        let index = *counter;
        *counter += 1;
        let prompt = self.category.prompts[index as usize % self.category.prompts.len()];
        let s = &self.group.settings;
        let max_tokens = s.max_tokens_cap.map_or(prompt.max_tokens, |cap| prompt.max_tokens.min(cap));
        let ctx = SampleContext {
            run: self.suite.run_id,
            model: &self.group.model,
            quant: &self.group.quant,
            category: self.category.name,
            prompt_id: &prompt.id,
            sample: index,
            warmup,
            started_at: now(),
            max_tokens,
        };
        let request = GenerationRequest { messages: &prompt.messages, max_tokens, sampling: &s.sampling };
        let observation = self.suite.rt.block_on(client::generate(self.suite.http, self.endpoint, &request, &s.limits));
        let record = generation::to_record(&ctx, observation, self.endpoint.dialect.as_ref());
        if let Err(e) = lock(self.suite.state).record(record.clone()) {
            resume_unwind(Box::new(Fatal(e.context("cannot keep records; stopping the run"))));
        }
        let of = if warmup { s.warmup } else { self.suite.samples_for(self.group) };
        self.suite.progress.borrow_mut().generation(&benchmark_id(self.group, self.category.name), index, of, &record);
        record
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A short table of what the run measured, after criterion's own output.
fn print_summary(summary: &Summary, dir: &std::path::Path) {
    println!("\nquantbench summary ({}): medians over successful samples", dir.display());
    println!("{:<34} {:>9} {:>13} {:>10} {:>9}  counts", "benchmark", "ok/runs", "decode tok/s", "TTFT ms", "E2E s");
    for b in &summary.benchmarks {
        let median = |name: &str| b.metrics.get(name).map(|m| m.median);
        let fmt = |v: Option<f64>, scale: f64, digits: usize| v.map_or("–".into(), |v| format!("{:.*}", digits, v * scale));
        let sources: Vec<String> = b.completion_sources.iter().map(|(k, v)| format!("{k}×{v}")).collect();
        let mut notes = sources.join(" ");
        for (flag, n) in &b.flags {
            notes.push_str(&format!(" {flag}×{n}"));
        }
        if let Some(reason) = &b.abandoned {
            notes.push_str(&format!(" STOPPED: {reason}"));
        }
        println!(
            "{:<34} {:>9} {:>13} {:>10} {:>9}  {}",
            format!("{}/{}", b.group, b.category),
            format!("{}/{}", b.ok, b.attempted),
            fmt(median("decode_rate"), 1.0, 1),
            fmt(median("ttft_s"), 1e3, 1),
            fmt(median("e2e_s"), 1.0, 2),
            notes.trim()
        );
    }
}
