//! The machine a run happened on. Anything the OS will not tell is absent.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use sysinfo::System;

/// Environment variables that change how inference backends run; recorded with every run.
pub const RECORDED_ENV_PREFIXES: [&str; 4] = ["GGML_", "MLX_", "LLAMA_", "OLLAMA_"];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub os: Option<String>,
    pub os_version: Option<String>,
    pub kernel: Option<String>,
    pub arch: String,
    pub cpu_model: Option<String>,
    pub physical_cores: Option<usize>,
    pub logical_cores: usize,
    pub memory_bytes: Option<u64>,
    /// macOS: the chip (`sysctl machdep.cpu.brand_string`, e.g. "Apple M3 Max").
    #[serde(default)]
    pub chip: Option<String>,
    /// macOS: how much memory the GPU may wire (`sysctl iogpu.wired_limit_mb`; 0 = the default).
    #[serde(default)]
    pub gpu_wired_limit_mb: Option<u64>,
    /// Variables named `GGML_*`, `MLX_*`, `LLAMA_*`, `OLLAMA_*` in quantbench's environment
    /// (which managed servers inherit).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

pub fn machine() -> Machine {
    let sys = System::new().ok().map(|mut sys| {
        sys.refresh_cpu_all();
        sys.refresh_memory();
        sys
    });
    Machine {
        os: System::name().ok(),
        os_version: System::long_os_version().ok(),
        kernel: System::kernel_version().ok(),
        arch: std::env::consts::ARCH.into(),
        cpu_model: sys
            .as_ref()
            .and_then(|s| s.cpus().first())
            .map(|c| c.brand().trim().to_owned())
            .filter(|b| !b.is_empty()),
        physical_cores: System::physical_core_count().ok(),
        logical_cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        memory_bytes: sys.as_ref().map(|s| s.total_memory()),
        chip: macos_sysctl("machdep.cpu.brand_string"),
        gpu_wired_limit_mb: macos_sysctl("iogpu.wired_limit_mb").and_then(|v| v.parse().ok()),
        env: recorded_env(std::env::vars_os()),
    }
}

/// A `sysctl` value on macOS; absent elsewhere or when the key does not exist.
fn macos_sysctl(key: &str) -> Option<String> {
    if !cfg!(target_os = "macos") {
        return None;
    }
    let out = std::process::Command::new("sysctl")
        .args(["-n", key])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    Some(String::from_utf8_lossy(&out.stdout).trim().to_owned()).filter(|v| !v.is_empty())
}

/// The variables among `vars` whose names start with one of [`RECORDED_ENV_PREFIXES`].
pub fn recorded_env(vars: impl Iterator<Item = (std::ffi::OsString, std::ffi::OsString)>) -> BTreeMap<String, String> {
    vars.filter_map(|(k, v)| Some((k.into_string().ok()?, v.to_string_lossy().into_owned())))
        .filter(|(k, _)| RECORDED_ENV_PREFIXES.iter().any(|p| k.starts_with(p)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_backend_variables_are_recorded() {
        let vars = [
            ("GGML_METAL_NO_RESIDENCY", "1"),
            ("HOME", "/root"),
            ("OLLAMA_NUM_PARALLEL", "1"),
            ("MLXX", "no"),
            ("LLAMA_ARG_THREADS", "4"),
        ];
        let env = recorded_env(vars.into_iter().map(|(k, v)| (k.into(), v.into())));
        assert_eq!(
            env.keys().collect::<Vec<_>>(),
            ["GGML_METAL_NO_RESIDENCY", "LLAMA_ARG_THREADS", "OLLAMA_NUM_PARALLEL"]
        );
        let m = machine();
        assert!(m.logical_cores >= 1 && m.memory_bytes.is_some_and(|b| b > 0));
        assert_eq!(m.chip.is_some(), cfg!(target_os = "macos"));
    }
}
