//! Run metadata (`metadata.json`): when, what code, which config, which machine, and for each
//! group the endpoint it used, how long its model took to load and what the server said it was.

use crate::config::Group;
use crate::environment::{ModelFileIdentity, ServerDescription};
use crate::memory::MemoryStats;
use crate::reference::mlx::MlxManifest;
use crate::reference::vllm::VllmManifest;
use crate::reference::Manifest;
use crate::sysmon::Machine;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const METADATA_SCHEMA: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    /// Every planned benchmark ran.
    Complete,
    /// Some planned groups or benchmarks did not run; `counts` says how many.
    Partial,
    /// Stopped by a signal (Ctrl-C, SIGTERM); the records written so far are valid.
    Interrupted,
    /// Stopped by an error, or nothing was measured; see `error`.
    Failed,
    /// Left `running` by a process that no longer exists (killed outright); set by the next run
    /// or `quantbench report` (`crate::crashed`).
    Crashed,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GitInfo {
    pub revision: String,
    pub dirty: bool,
}

/// One group's server as the run used it; what was not measured or not said stays absent (and
/// what an older run did not write reads as absent).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupServer {
    pub name: String,
    pub base_url: String,
    pub model_id: String,
    /// Started and stopped by the suite.
    pub managed: bool,
    /// Server start to ready, for managed servers: `/health` answers (llama-server), or a first
    /// one-token request is served (mlx_lm.server, which loads its model after it listens). With
    /// `model_lifecycle = "manage"` on LM Studio or Ollama: load request sent to load confirmed.
    /// Monotonic clock in every case; `load_time_source` says which span.
    pub load_time_s: Option<f64>,
    /// What `load_time_s` spans on this server.
    #[serde(default)]
    pub load_time_source: Option<String>,
    /// The server's own load time, beside ours (LM Studio's `load_time_seconds`).
    #[serde(default)]
    pub load_time_server_s: Option<f64>,
    /// Which figure of the server's `load_time_server_s` is.
    #[serde(default)]
    pub load_time_server_source: Option<String>,
    /// What happened to the model lifecycle: instances unloaded before the load, an unload that
    /// failed, or a server that cannot load models over HTTP.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lifecycle_notes: Vec<String>,
    pub model_file: Option<PathBuf>,
    pub model_file_bytes: Option<u64>,
    /// What the server reported about itself (llama-server `/props`: build info, model path).
    pub server_info: Option<serde_json::Value>,
    pub server_log: Option<PathBuf>,
    /// Process id of a managed server.
    pub server_pid: Option<u32>,
    /// Backend, version, quant, context length and model size as the server described them.
    #[serde(default)]
    pub server_description: Option<ServerDescription>,
    /// The model file (when it is on this machine) with a hash of its first 64 MiB.
    #[serde(default)]
    pub model_file_identity: Option<ModelFileIdentity>,
    /// Resident memory of the server's process tree while the group ran.
    #[serde(default)]
    pub memory: Option<MemoryStats>,
    /// Why memory was not sampled (the server process was not found).
    #[serde(default)]
    pub memory_unavailable: Option<String>,
    /// A managed server that a signal ended while it loaded, started again with other arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<crate::managed::Fallback>,
    /// Bytes one generated token reads from the model's weights (see `roofline`), or why that
    /// is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights_per_token: Option<crate::roofline::WeightsPerToken>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights_per_token_unavailable: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Metadata {
    pub schema: u32,
    pub run: String,
    pub status: RunStatus,
    pub error: Option<String>,
    pub started_at: String,
    pub ended_at: Option<String>,
    /// The suite's process and machine: a `running` run whose process is gone has `crashed`.
    pub pid: u32,
    pub host: Option<String>,
    pub command: Vec<String>,
    pub filter: String,
    pub git: Option<GitInfo>,
    pub config_path: PathBuf,
    /// The resolved groups selected for this run (API keys appear only as variable names).
    pub config: Vec<Group>,
    pub machine: Machine,
    /// The memory bandwidth decode rates are set against (see `roofline::bandwidth`).
    pub memory_bandwidth: Option<crate::roofline::Bandwidth>,
    /// The pre-flight check and the state at the end (each benchmark's is in the summary).
    pub machine_state: crate::machine_state::RunStates,
    /// Threads of a load level, also the worker threads of the suite's runtime (`load::client_threads`).
    pub client_threads: usize,
    pub reference: Option<Manifest>,
    /// The MLX reference install, when an MLX reference group ran.
    pub reference_mlx: Option<MlxManifest>,
    /// The vLLM and vllm-mlx reference installs, when their groups ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_vllm: Option<VllmManifest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_vllm_mlx: Option<VllmManifest>,
    pub groups: Vec<GroupServer>,
    /// Planned against run, when the run ended (see `run_status`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts: Option<RunCounts>,
}

/// Planned against run, when the run ended (`run_status::assess`); in `metadata.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunCounts {
    pub groups_planned: u32,
    /// Groups whose server did not start.
    pub groups_not_started: u32,
    pub benchmarks_planned: u32,
    /// Planned benchmarks stopped before they finished, or never begun.
    pub benchmarks_not_run: u32,
    /// Successful measured samples (the summary's `ok`, summed).
    pub samples_ok: u32,
    /// Measured samples attempted, plus the planned samples that benchmarks which did not run
    /// never attempted.
    pub samples_attempted: u32,
}

impl RunCounts {
    /// "6 of 7 groups did not start; 48 of 56 benchmarks did not run", or "all 56 benchmarks ran".
    pub fn text(&self) -> String {
        let mut parts = Vec::new();
        if self.groups_not_started > 0 {
            parts.push(format!(
                "{} of {} groups did not start",
                self.groups_not_started, self.groups_planned
            ));
        }
        if self.benchmarks_not_run > 0 {
            parts.push(format!(
                "{} of {} benchmarks did not run",
                self.benchmarks_not_run, self.benchmarks_planned
            ));
        }
        if parts.is_empty() {
            return format!("all {} benchmarks ran", self.benchmarks_planned);
        }
        parts.join("; ")
    }
}

/// `metadata.json` as the reports read it back: the fields they use, typed. What a run did not
/// write (an older build, a run killed early) is absent or empty; the status stays text, so that
/// a status this build does not know still shows.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct RecordedMetadata {
    pub status: Option<String>,
    pub error: Option<String>,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub command: Vec<String>,
    pub filter: Option<String>,
    pub git: Option<GitInfo>,
    pub config_path: Option<PathBuf>,
    pub machine: RecordedMachine,
    pub config: Vec<RecordedGroup>,
    pub groups: Vec<GroupServer>,
    pub counts: Option<RunCounts>,
    /// The pre-flight check and the state at the end; absent in runs written before it.
    pub machine_state: crate::machine_state::RunStates,
    pub memory_bandwidth: Option<crate::roofline::Bandwidth>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct RecordedMachine {
    pub cpu_model: Option<String>,
    pub os: Option<String>,
    pub os_version: Option<String>,
    pub arch: Option<String>,
    pub chip: Option<String>,
    pub logical_cores: Option<usize>,
    pub memory_bytes: Option<u64>,
}

/// A configured group as `metadata.json` lists it: its name and where it was served.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct RecordedGroup {
    pub name: String,
    pub target: RecordedTarget,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct RecordedTarget {
    /// The reference backend (`llama-server`, `mlx-lm`) or, for an external endpoint, its kind.
    pub backend: Option<String>,
    pub kind: Option<String>,
}

impl RecordedMetadata {
    /// Reads the document; no document (`null`) reads as empty.
    pub fn from_json(value: &serde_json::Value) -> serde_json::Result<RecordedMetadata> {
        if value.is_null() {
            return Ok(RecordedMetadata::default());
        }
        serde_json::from_value(value.clone())
    }

    /// The status, or `unknown` when the run wrote none.
    pub fn status(&self) -> &str {
        self.status.as_deref().unwrap_or("unknown")
    }

    /// The status with its counts ("partial: 6 of 7 groups did not start; …"); runs from before
    /// the counts show the status alone.
    pub fn status_text(&self) -> String {
        match &self.counts {
            Some(c) if self.status() != "complete" => format!("{}: {}", self.status(), c.text()),
            _ => self.status().to_owned(),
        }
    }

    /// What the run's metadata says about a group's server (the first, when it was restarted
    /// with more slots for load benchmarks: the one its prompt categories ran on).
    pub fn group_run(&self, group: &str) -> Option<&GroupServer> {
        self.groups.iter().find(|g| g.name == group)
    }

    /// The backend serving a group, from the run's resolved config.
    pub fn backend(&self, group: &str) -> Option<&str> {
        let target = &self.config.iter().find(|g| g.name == group)?.target;
        target.backend.as_deref().or(target.kind.as_deref())
    }
}

/// One line of the closing note per group: load time, memory as measured, and what the server
/// said it runs. Anything not measured is said to be so.
pub fn server_line(g: &GroupServer) -> String {
    const GB: f64 = 1e9;
    let server = g
        .load_time_server_s
        .map_or(String::new(), |s| format!(" (server says {s:.2} s)"));
    let load = g
        .load_time_s
        .map_or("load time not measured".into(), |s| format!("load {s:.2} s{server}"));
    let memory = match (&g.memory, &g.memory_unavailable) {
        (Some(m), _) => {
            let per_gb = m
                .peak_rss_per_model_gb
                .map_or(String::new(), |r| format!(", {r:.2} GB per GB of model"));
            format!(
                "RSS idle {:.3} GB, peak {:.3} GB, steady {:.3} GB ({} samples{per_gb})",
                m.idle_rss_bytes as f64 / GB,
                m.peak_rss_bytes as f64 / GB,
                m.steady_rss_bytes as f64 / GB,
                m.samples
            )
        }
        (None, Some(why)) => format!("memory not sampled: {why}"),
        (None, None) => "memory not sampled".into(),
    };
    let d = g.server_description.clone().unwrap_or_default();
    let backend = [d.backend, d.backend_version, d.quant]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let reported = d.model_bytes.map_or(String::new(), |b| {
        format!("; server-reported model size {:.3} GB", b as f64 / GB)
    });
    let fallback = g
        .fallback
        .as_ref()
        .map_or(String::new(), |f| format!("; started with {} ({})", f.args, f.why));
    format!(
        "{}: {load}; {memory}{reported}{}{fallback}",
        g.name,
        if backend.is_empty() {
            String::new()
        } else {
            format!("; {backend}")
        }
    )
}

/// The checkout's revision and whether it had uncommitted changes; absent outside git.
pub fn git_info(dir: &Path) -> Option<GitInfo> {
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
    };
    let revision = String::from_utf8(git(&["rev-parse", "HEAD"])?.stdout)
        .ok()?
        .trim()
        .to_owned();
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|o| !o.stdout.is_empty());
    Some(GitInfo { revision, dirty })
}
