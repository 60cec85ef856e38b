//! Servers: the run's set-up (endpoints checked, reference installed, run directory and
//! metadata), each group's server brought up and closed — endpoint, managed reference server,
//! model lifecycle, memory sampling — and what the metadata says about it.

use super::journal::{lock, Journal, SharedJournal};
use super::plan::PlannedGroup;
use super::{Harness, SuiteOptions};
use crate::client::{self, Endpoint};
use crate::config::{Config, Group, Lifecycle, Target};
use crate::dialect::lifecycle::{self, Held};
use crate::dialect::{self, DialectOptions, ServerKind};
use crate::environment;
use crate::machine_state;
use crate::managed::ManagedServer;
use crate::memory::{self, MemorySampler};
use crate::metadata::{self, GroupServer, Metadata, RunStatus};
use crate::progress::Progress;
use crate::record::Flag;
use crate::reference::mlx::{self as mlx_reference, MlxManifest};
use crate::reference::vllm::{self as vllm_reference, VllmManifest};
use crate::reference::{self, Backend, Manifest};
use crate::roofline;
use crate::store::{self, RunStore};
use crate::summary::GroupStop;
use crate::sysmon;
use crate::util::now;
use anyhow::{bail, Context, Result};
use criterion::Criterion;
use std::cell::RefCell;
use std::sync::{Arc, Mutex};

/// What the run sets up before its first group.
pub struct Setup {
    pub journal: SharedJournal,
    run_id: String,
    reference: Option<Manifest>,
    mlx_reference: Option<MlxManifest>,
    vllm_reference: Option<VllmManifest>,
    vllm_mlx_reference: Option<VllmManifest>,
    progress: RefCell<Progress>,
}

/// Checks the endpoints and the machine, installs the references the plan uses, creates the run
/// directory and writes its first metadata.
pub fn prepare(
    config: &Config,
    opts: &SuiteOptions,
    planned: &[PlannedGroup<'_>],
    pairs: &[super::PlannedPair<'_>],
    rt: &tokio::runtime::Runtime,
    http: &reqwest::Client,
    planned_generations: u64,
) -> Result<Setup> {
    let groups: Vec<&Group> = planned
        .iter()
        .map(|p| p.group)
        .chain(pairs.iter().flat_map(|p| [p.a, p.b]))
        .collect();
    rt.block_on(super::preflight::preflight(&groups, http))?;
    let machine_check = super::preflight::check_machine()?;
    let uses = |b: Backend| {
        groups
            .iter()
            .any(|g| matches!(g.target, Target::Reference { backend, .. } if backend == b))
    };
    let say = |m: &str| eprintln!("quantbench: {m}");
    let reference = uses(Backend::LlamaServer)
        .then(|| reference::ensure_installed(&say))
        .transpose()?;
    let mlx_reference = uses(Backend::MlxLm)
        .then(|| mlx_reference::ensure_installed(&say))
        .transpose()?;
    let vllm = |server| vllm_reference::ensure_installed(server, &say);
    let vllm_reference = uses(Backend::Vllm)
        .then(|| vllm(vllm_reference::Server::Vllm))
        .transpose()?;
    let vllm_mlx_reference = uses(Backend::VllmMlx)
        .then(|| vllm(vllm_reference::Server::VllmMlx))
        .transpose()?;

    crate::crashed::mark_crashed_runs(&opts.reports_root);
    let store = RunStore::create(&opts.reports_root, &store::new_run_id())?;
    let run_id = store.run_id();
    let metadata = Metadata {
        schema: metadata::METADATA_SCHEMA,
        run: run_id.clone(),
        status: RunStatus::Running,
        error: None,
        started_at: now(),
        ended_at: None,
        pid: std::process::id(),
        host: crate::crashed::host_name(),
        command: opts.command.clone(),
        filter: opts.cli.filter.describe(),
        git: metadata::git_info(std::path::Path::new(env!("CARGO_MANIFEST_DIR"))),
        config_path: config.path.clone(),
        // A group in both a plain and a paired benchmark is listed once.
        config: groups
            .iter()
            .enumerate()
            .filter(|(i, g)| !groups[..*i].iter().any(|o| o.name == g.name))
            .map(|(_, &g)| g.clone())
            .collect(),
        machine: sysmon::machine(),
        memory_bandwidth: None,
        machine_state: machine_state::RunStates {
            preflight: Some(machine_check),
            end: None,
        },
        client_threads: rt.metrics().num_workers(),
        reference: reference.clone(),
        reference_mlx: mlx_reference.clone(),
        reference_vllm: vllm_reference.clone(),
        reference_vllm_mlx: vllm_mlx_reference.clone(),
        groups: Vec::new(),
        counts: None,
    };
    let journal = Journal {
        store,
        metadata,
        records: Vec::new(),
        notes: Vec::new(),
        group_stops: Vec::new(),
        fidelity: Vec::new(),
        paired: Vec::new(),
        session_cuts: Vec::new(),
    };
    let journal = Arc::new(Mutex::new(journal));
    lock(&journal).save_metadata()?;
    eprintln!(
        "quantbench: run {run_id}: records in {}",
        lock(&journal).store.dir.path().display()
    );
    let progress = RefCell::new(Progress::new(planned_generations));
    Ok(Setup {
        journal,
        run_id,
        reference,
        mlx_reference,
        vllm_reference,
        vllm_mlx_reference,
        progress,
    })
}

impl Setup {
    pub fn harness<'a>(
        &'a self,
        rt: &'a tokio::runtime::Runtime,
        http: &'a reqwest::Client,
        client_threads: usize,
        opts: &SuiteOptions,
    ) -> Harness<'a> {
        Harness {
            rt,
            http,
            client_threads,
            journal: &self.journal,
            progress: &self.progress,
            run_id: &self.run_id,
            reference: self.reference.as_ref(),
            mlx_reference: self.mlx_reference.as_ref(),
            vllm_reference: self.vllm_reference.as_ref(),
            vllm_mlx_reference: self.vllm_mlx_reference.as_ref(),
            sample_size: opts.cli.sample_size,
            mode: opts.cli.mode,
            held: RefCell::default(),
            machine_flags: RefCell::default(),
        }
    }
}

/// Group `g`'s endpoint `e` with other request options (prefix cache, fixed length).
pub fn endpoint_with(g: &Group, e: &Endpoint, options: DialectOptions) -> Endpoint {
    let kind = match &g.target {
        Target::External { kind, .. } => *kind,
        Target::Reference { backend, .. } => backend.server_kind(),
    };
    Endpoint {
        base_url: e.base_url.clone(),
        model_id: e.model_id.clone(),
        api_key: e.api_key.clone(),
        dialect: dialect::for_kind(kind, options),
    }
}

/// A group's server while the workloads run on it.
pub struct GroupContext<'a> {
    pub harness: &'a Harness<'a>,
    pub planned: &'a PlannedGroup<'a>,
    pub criterion: &'a mut Criterion,
    pub endpoint: Endpoint,
    /// The server process, when the suite started it.
    pub server: Option<ManagedServer>,
    sampler: Option<MemorySampler>,
    slots: u32,
    /// Nothing more runs on this group: a restart for more slots failed, or a workload stopped
    /// the group (`Some` with why, for the workloads that keep state about it).
    lost: bool,
    stopped: Option<String>,
}

impl GroupContext<'_> {
    /// The group's endpoint with other request options (prefix cache, fixed length).
    pub fn endpoint_with(&self, options: DialectOptions) -> Endpoint {
        endpoint_with(self.planned.group, &self.endpoint, options)
    }

    pub fn lost(&self) -> bool {
        self.lost
    }

    /// Stops the rest of the group (its benchmarks are already noted): nothing more runs on it.
    pub fn stop_group(&mut self, reason: String) {
        self.lost = true;
        self.stopped = Some(reason);
    }

    /// Why a workload stopped the group, if one did.
    pub fn stopped(&self) -> Option<&str> {
        self.stopped.as_deref()
    }

    /// Load benchmarks need one server slot per stream: a managed server with fewer is
    /// restarted with enough (memory sampling, which covered the earlier benchmarks, stops
    /// first). False when the restart failed: the load benchmarks are then noted abandoned.
    pub fn with_load_slots(&mut self) -> Result<bool> {
        let (g, h) = (self.planned.group, self.harness);
        let needed = g.settings.load.max_streams();
        if self.lost || self.server.is_none() || self.slots >= needed {
            return Ok(!self.lost);
        }
        h.stop_memory_sampler(g, self.sampler.take())?;
        self.server = None; // stopped before its successor starts
        match h.open_endpoint(g, needed, self.planned.needs_server_cache()) {
            Ok((endpoint, server)) => {
                (self.endpoint, self.server, self.slots) = (endpoint, server, needed);
                Ok(true)
            }
            Err(e) => {
                self.lost = true;
                let names: Vec<&str> = self.planned.load.iter().map(|k| k.name()).collect();
                h.abandon(&g.name, &names, &format!("{e:#}"))?;
                Ok(false)
            }
        }
    }

    /// Stores what memory sampling saw and unloads the model the suite loaded.
    pub fn close(mut self) -> Result<()> {
        let g = self.planned.group;
        self.harness.stop_memory_sampler(g, self.sampler.take())?;
        self.harness.release_models(&[&g.name])
    }
}

impl Harness<'_> {
    /// Brings up the group's server; with only load benchmarks planned, a managed server starts
    /// with their slots right away. The error is the reason its benchmarks are abandoned.
    pub fn open_group<'a>(
        &'a self,
        p: &'a PlannedGroup<'a>,
        criterion: &'a mut Criterion,
    ) -> std::result::Result<GroupContext<'a>, String> {
        let g = p.group;
        let slots = if p.categories.is_empty() && p.agent.is_empty() && !p.load.is_empty() {
            g.settings.load.max_streams()
        } else {
            1
        };
        let (endpoint, server) = self
            .open_endpoint(g, slots, p.needs_server_cache())
            .map_err(|e| format!("{e:#}"))?;
        let sampler = self.start_memory_sampler(g, server.as_ref());
        Ok(GroupContext {
            harness: self,
            planned: p,
            criterion,
            endpoint,
            server,
            sampler,
            slots,
            lost: false,
            stopped: None,
        })
    }

    /// Marks the benchmarks of a group that did not start, or that is stopped as a whole, and
    /// says why once: one note for the group, its benchmarks pointing to it.
    pub fn abandon_group(&self, group: &str, started: bool, benchmarks: &[&str], reason: &str) -> Result<()> {
        let stop = GroupStop {
            group: group.into(),
            started,
            reason: reason.into(),
        };
        self.say(&format!("\nquantbench: {}", stop.text()));
        let mut journal = lock(self.journal);
        for b in benchmarks {
            let note = journal.note(group, b);
            note.abandoned = Some(reason.to_owned());
            note.stopped_with_group = true;
        }
        journal.group_stops.push(stop);
        journal.save_summary()
    }

    /// Marks benchmarks abandoned for `reason` and says so.
    pub fn abandon(&self, group: &str, categories: &[&str], reason: &str) -> Result<()> {
        self.say(&format!("\nquantbench: {group}: stopped early: {reason}"));
        let mut journal = lock(self.journal);
        for c in categories {
            journal.note(group, c).abandoned = Some(reason.to_owned());
        }
        journal.save_summary()
    }

    /// Sets up a group's endpoint — starting its server, with `slots` concurrent request slots
    /// and its prefix cache on where `needs_cache` (see `PlannedGroup::needs_server_cache`), when the suite manages
    /// it — and records it in the metadata.
    pub fn open_endpoint(&self, g: &Group, slots: u32, needs_cache: bool) -> Result<(Endpoint, Option<ManagedServer>)> {
        let (endpoint, server, run_info) = match &g.target {
            Target::External {
                url,
                kind,
                model_id,
                api_key_env,
                ..
            } => {
                let api_key = api_key_env.as_ref().and_then(|v| std::env::var(v).ok());
                let endpoint = Endpoint {
                    base_url: url.clone(),
                    model_id: model_id.clone(),
                    api_key,
                    dialect: dialect::for_kind(*kind, g.settings.dialect_options()),
                };
                let mut info = GroupServer {
                    name: g.name.clone(),
                    base_url: url.clone(),
                    model_id: model_id.clone(),
                    ..GroupServer::default()
                };
                if let Some(problem) = self.rt.block_on(client::model_not_served(self.http, &endpoint)) {
                    bail!(problem);
                }
                // Before the server describes itself, so that it describes the loaded model.
                self.manage_model(g, &endpoint, *kind, &mut info)?;
                info.server_info = self.rt.block_on(client::server_info(self.http, &endpoint));
                (endpoint, None, info)
            }
            Target::Reference { backend, quant } => self.start_reference(g, *backend, quant, slots, needs_cache)?,
        };
        let run_info = self.describe_environment(&endpoint, run_info);
        if g.settings.fixed_length && !endpoint.dialect.forces_length() {
            self.say(&format!("quantbench: {}: fixed_length: this server cannot be made to generate exactly max_tokens (no ignore_eos, or no eos_token_ids for logit_bias); samples with another count are flagged length_mismatch", g.name));
        }
        let mut journal = lock(self.journal);
        if journal.metadata.memory_bandwidth.is_none() && run_info.weights_per_token.is_some() {
            // Measured (off Apple silicon) once, between groups: nothing streams now.
            journal.metadata.memory_bandwidth = Some(roofline::bandwidth::for_machine(&journal.metadata.machine));
        }
        journal.metadata.groups.push(run_info);
        journal.save_metadata()?;
        Ok((endpoint, server))
    }

    /// Adds what the server said about itself, and the model file's identity when the file is
    /// on this machine (named by the config's reference install or by the server).
    fn describe_environment(&self, endpoint: &Endpoint, mut info: GroupServer) -> GroupServer {
        let description = info
            .server_info
            .as_ref()
            .map(|i| endpoint.dialect.describe(&endpoint.model_id, i));
        let model_path = info
            .model_file
            .clone()
            .or_else(|| description.as_ref()?.model_path.clone());
        match model_path.as_deref().map(roofline::weights_per_token) {
            Some(Ok(weights)) => info.weights_per_token = Some(weights),
            Some(Err(e)) => info.weights_per_token_unavailable = Some(format!("{e:#}")),
            None => info.weights_per_token_unavailable = Some("the server names no model file on this machine".into()),
        }
        if let Some(path) = model_path.filter(|p| p.is_file()) {
            match environment::identify_model_file(&path) {
                Ok(identity) => {
                    info.model_file = Some(identity.path.clone());
                    info.model_file_bytes = Some(identity.bytes);
                    info.model_file_identity = Some(identity);
                }
                Err(e) => self.say(&format!(
                    "quantbench: {}: cannot identify the model file: {e:#}",
                    info.name
                )),
            }
        }
        info.server_description = description;
        info
    }

    /// With `model_lifecycle = "manage"`, has the server load the group's model — after unloading
    /// any instance of it already loaded, so the load is cold — and keeps the load time in `info`;
    /// [`Harness::release_models`] unloads it after the group. A server that cannot is said so once
    /// and noted; the group runs on the model as found.
    fn manage_model(&self, g: &Group, endpoint: &Endpoint, kind: ServerKind, info: &mut GroupServer) -> Result<()> {
        if g.settings.model_lifecycle != Lifecycle::Manage {
            return Ok(());
        }
        let Some(lifecycle) = dialect::lifecycle(kind) else {
            let note = format!("model_lifecycle = \"manage\": a {} server cannot load or unload models over HTTP; the model was left as found and its load time not measured", kind.name());
            self.say(&format!("quantbench: {}: {note}", g.name));
            info.lifecycle_notes.push(note);
            return Ok(());
        };
        let server = lifecycle::Server {
            root: endpoint.server_root().to_owned(),
            api_key: endpoint.api_key.clone(),
        };
        let load = lifecycle::load(
            self.http,
            &server,
            lifecycle,
            &endpoint.model_id,
            g.settings.context_length,
            g.settings.limits.total,
        );
        let report = self
            .rt
            .block_on(load)
            .context("model_lifecycle = \"manage\": the model was not loaded")?;
        info.lifecycle_notes.extend(
            report
                .unloaded_before
                .iter()
                .map(|i| format!("unloaded the instance {i:?}, loaded before the group, so that the load was cold")),
        );
        info.load_time_s = Some(report.wall.as_secs_f64());
        info.load_time_source = Some(lifecycle.load_time_source().into());
        info.load_time_server_s = report.loaded.server_load_s;
        info.load_time_server_source = report
            .loaded
            .server_load_s
            .and(lifecycle.server_figure())
            .map(Into::into);
        let server_says = report
            .loaded
            .server_load_s
            .map_or(String::new(), |s| format!(" (the server says {s:.2} s)"));
        self.say(&format!(
            "quantbench: {}: {} loaded in {:.2} s{server_says}",
            g.name,
            endpoint.model_id,
            report.wall.as_secs_f64()
        ));
        self.held.borrow_mut().push(Held {
            group: g.name.clone(),
            server,
            lifecycle,
            instance: report.loaded.instance,
        });
        Ok(())
    }

    /// Samples the machine's state before a benchmark (outside its measurement), keeps it in the
    /// benchmark's note and flags its records when the machine is throttled or on battery.
    pub fn sample_machine_state(&self, group: &str, category: &str) {
        let state = machine_state::sample();
        for concern in state.concerns() {
            self.say(&format!("quantbench: {group}/{category}: warning: {concern}"));
        }
        let flags = [
            (state.throttled(), Flag::Throttled),
            (state.on_battery == Some(true), Flag::OnBattery),
        ];
        *self.machine_flags.borrow_mut() = flags.into_iter().filter_map(|(on, flag)| on.then_some(flag)).collect();
        lock(self.journal).note(group, category).machine_state = Some(state);
    }

    /// Unloads what [`Harness::manage_model`] loaded for these groups. A failed unload is a warning
    /// in the group's metadata: the measurements stand, the run goes on.
    pub fn release_models(&self, groups: &[&str]) -> Result<()> {
        let held: Vec<Held> = self
            .held
            .borrow_mut()
            .extract_if(.., |h| groups.contains(&h.group.as_str()))
            .collect();
        for h in held {
            let group = h.group.as_str();
            if let Err(e) = self.rt.block_on(h.unload(self.http)) {
                let note = format!("the model was not unloaded after the group: {e:#}");
                self.say(&format!("quantbench: {group}: warning: {note}"));
                let mut journal = lock(self.journal);
                if let Some(info) = journal.group_run(group) {
                    info.lifecycle_notes.push(note);
                }
                journal.save_metadata()?;
            }
        }
        Ok(())
    }

    /// Stores what a memory sampler saw in the group's metadata.
    fn stop_memory_sampler(&self, g: &Group, sampler: Option<MemorySampler>) -> Result<()> {
        let Some(sampler) = sampler else { return Ok(()) };
        let mut journal = lock(self.journal);
        if let Some(info) = journal.group_run(&g.name) {
            info.memory = sampler.stop(
                info.model_file_bytes
                    .or(info.server_description.as_ref().and_then(|d| d.model_bytes)),
            );
        }
        journal.save_metadata()
    }

    /// Starts sampling the resident memory of the group's server: the managed process, else the
    /// process named in the config, else whatever listens on the endpoint's port on this machine.
    /// When none is found the metadata says why.
    fn start_memory_sampler(&self, g: &Group, managed: Option<&ManagedServer>) -> Option<MemorySampler> {
        let found = match (&g.target, managed) {
            (_, Some(server)) => Ok((server.pid(), "managed by the suite".to_owned())),
            (
                Target::External {
                    process_name: Some(name),
                    ..
                },
                None,
            ) => memory::find_by_name(name),
            (Target::External { url, .. }, None) => local_port(url)
                .ok_or_else(|| format!("{url} is not on this machine; set `process_name` on the endpoint"))
                .and_then(memory::find_listener),
            (Target::Reference { .. }, None) => Err("the reference server is not running".to_owned()),
        };
        match found {
            Ok((pid, found_by)) => Some(MemorySampler::start(pid, found_by)),
            Err(reason) => {
                self.say(&format!("quantbench: {}: memory not sampled: {reason}", g.name));
                let mut journal = lock(self.journal);
                if let Some(info) = journal.group_run(&g.name) {
                    info.memory_unavailable = Some(reason);
                }
                None
            }
        }
    }
}

/// The port of a URL whose host is this machine (loopback or `localhost`).
fn local_port(url: &str) -> Option<u16> {
    let url = reqwest::Url::parse(url).ok()?;
    let host = url.host_str()?.trim_start_matches('[').trim_end_matches(']');
    let local = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    local.then(|| url.port_or_known_default()).flatten()
}
