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
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GitInfo {
    pub revision: String,
    pub dirty: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupRun {
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
    /// Worker threads of the client's runtime (`load::client_threads`).
    pub client_threads: usize,
    pub reference: Option<Manifest>,
    /// The MLX reference install, when an MLX reference group ran.
    pub reference_mlx: Option<MlxManifest>,
    /// The vLLM and vllm-mlx reference installs, when their groups ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_vllm: Option<VllmManifest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_vllm_mlx: Option<VllmManifest>,
    pub groups: Vec<GroupRun>,
    /// Planned against run, when the run ended (see `run_status`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts: Option<crate::run_status::RunCounts>,
}

/// One line of the closing note per group: load time, memory as measured, and what the server
/// said it runs. Anything not measured is said to be so.
pub fn server_line(g: &GroupRun) -> String {
    const GB: f64 = 1e9;
    let server = g.load_time_server_s.map_or(String::new(), |s| format!(" (server says {s:.2} s)"));
    let load = g.load_time_s.map_or("load time not measured".into(), |s| format!("load {s:.2} s{server}"));
    let memory = match (&g.memory, &g.memory_unavailable) {
        (Some(m), _) => {
            let per_gb = m.peak_rss_per_model_gb.map_or(String::new(), |r| format!(", {r:.2} GB per GB of model"));
            format!("RSS idle {:.3} GB, peak {:.3} GB, steady {:.3} GB ({} samples{per_gb})", m.idle_rss_bytes as f64 / GB, m.peak_rss_bytes as f64 / GB, m.steady_rss_bytes as f64 / GB, m.samples)
        }
        (None, Some(why)) => format!("memory not sampled: {why}"),
        (None, None) => "memory not sampled".into(),
    };
    let d = g.server_description.clone().unwrap_or_default();
    let backend = [d.backend, d.backend_version, d.quant].into_iter().flatten().collect::<Vec<_>>().join(" ");
    let reported = d.model_bytes.map_or(String::new(), |b| format!("; server-reported model size {:.3} GB", b as f64 / GB));
    let fallback = g.fallback.as_ref().map_or(String::new(), |f| format!("; started with {} ({})", f.args, f.why));
    format!("{}: {load}; {memory}{reported}{}{fallback}", g.name, if backend.is_empty() { String::new() } else { format!("; {backend}") })
}

/// The checkout's revision and whether it had uncommitted changes; absent outside git.
pub fn git_info(dir: &Path) -> Option<GitInfo> {
    let git = |args: &[&str]| Command::new("git").arg("-C").arg(dir).args(args).output().ok().filter(|o| o.status.success());
    let revision = String::from_utf8(git(&["rev-parse", "HEAD"])?.stdout).ok()?.trim().to_owned();
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|o| !o.stdout.is_empty());
    Some(GitInfo { revision, dirty })
}
