//! The CPU instructions the reference llama.cpp is compiled for.
//!
//! llama.cpp's default (`GGML_NATIVE`) compiles for whatever the build machine's compiler
//! detects. The reference is built portably instead: `GGML_NATIVE=OFF` with each x86 level
//! switched on only when `/proc/cpuinfo` lists it (the kernel drops the flags of state it does not
//! save) and the OS has enabled its register state (XCR0, read by the CPU-feature probe). Every
//! option is spelled out ON or OFF (with `GGML_NATIVE=OFF`, llama.cpp turns SSE4.2 to AVX2 on by
//! default), and the flags are part of the install's cache key and manifest.
//!
//! AMX is built when the CPU lists it. On a 2-vCPU VM that advertised AMX, its kernels crashed
//! every quantized model in the weight-repacking path (SIGILL, SIGSEGV) — a broken virtual AMX,
//! not a wrong build: on a 16-core Xeon host the same sources with AMX start every quant, and the
//! AMX repacking doubles q4_1 decode on 2 pinned threads (llama-bench tg64: 155 ± 11 tok/s with
//! AMX, 70 ± 3 without; docs/reference.md). Leaving AMX out everywhere would halve the reference
//! on every machine where it works, so the crash is handled where it shows: the install loads
//! every quant once and a quant that loads only without repacking is started with `--no-repack`
//! (the run's metadata says why), and a server that a signal ends while loading is retried so.
//! `GGML_CPU_ALL_VARIANTS` was no way out: it would pick the same AMX variant at run time.
//!
//! On Linux arm64 the same idea through `GGML_CPU_ARM_ARCH`: `armv8-a` plus the dot-product,
//! half-precision and int8-matmul extensions the kernel lists (no SVE: its vector length varies
//! between machines). macOS keeps the native build: Apple Silicon has no x86 AMX and Intel Macs
//! predate it, and a Mac build runs on the machine that compiled it.

use serde::{Deserialize, Serialize};

/// The CPU part of the reference build, recorded in the install manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CpuBuild {
    /// CMake definitions, e.g. `-DGGML_NATIVE=OFF -DGGML_AVX2=ON …`; empty for a native build.
    pub cmake_args: Vec<String>,
    /// Why these, in a sentence.
    pub reason: String,
}

/// x86 options in llama.cpp's CMake and the `/proc/cpuinfo` flags each needs.
const X86_OPTIONS: [(&str, &[&str]); 14] = [
    ("GGML_SSE42", &["sse4_2"]),
    ("GGML_AVX", &["avx"]),
    ("GGML_AVX_VNNI", &["avx_vnni", "avx2"]),
    ("GGML_AVX2", &["avx2"]),
    ("GGML_BMI2", &["bmi2"]),
    ("GGML_FMA", &["fma", "avx"]),
    ("GGML_F16C", &["f16c", "avx"]),
    (
        "GGML_AVX512",
        &["avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw"],
    ),
    ("GGML_AVX512_VBMI", &["avx512vbmi", "avx512f"]),
    ("GGML_AVX512_VNNI", &["avx512_vnni", "avx512f"]),
    ("GGML_AVX512_BF16", &["avx512_bf16", "avx512f"]),
    ("GGML_AMX_TILE", &["amx_tile", "avx512f"]),
    ("GGML_AMX_INT8", &["amx_int8", "amx_tile", "avx512f"]),
    ("GGML_AMX_BF16", &["amx_bf16", "amx_tile", "avx512f"]),
];
/// A flag implies these (every CPU with the first has the second, and a kernel that disables
/// the second's register state drops the first too).
const X86_IMPLIED: [(&str, &str); 3] = [("avx512f", "avx2"), ("avx2", "avx"), ("avx", "sse4_2")];

/// The build for this machine.
pub fn for_this_machine() -> CpuBuild {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    derive(std::env::consts::ARCH, std::env::consts::OS, &cpuinfo, &os_enables)
}

/// The build for a CPU: `arch` and `os` as in `std::env::consts`, `cpuinfo` the text of
/// `/proc/cpuinfo`, `os_enables("avx" | "avx512f")` whether the OS has enabled that register
/// state.
pub fn derive(arch: &str, os: &str, cpuinfo: &str, os_enables: &dyn Fn(&str) -> bool) -> CpuBuild {
    match (arch, os) {
        (_, "macos") => CpuBuild {
            cmake_args: Vec::new(),
            reason: "macOS: llama.cpp's native build (no x86 AMX on Macs)".into(),
        },
        ("x86_64", _) => x86(&cpu_flags(cpuinfo, "flags"), os_enables),
        ("aarch64", "linux") => arm64(&cpu_flags(cpuinfo, "Features")),
        _ => CpuBuild {
            cmake_args: Vec::new(),
            reason: format!("{arch} on {os}: llama.cpp's native build (no portable baseline known here)"),
        },
    }
}

/// The flags of the first `/proc/cpuinfo` line that starts with `key` (x86: `flags`, arm64:
/// `Features`).
fn cpu_flags<'a>(cpuinfo: &'a str, key: &str) -> Vec<&'a str> {
    let line = cpuinfo
        .lines()
        .find(|l| l.split(':').next().is_some_and(|k| k.trim() == key));
    line.and_then(|l| l.split_once(':'))
        .map_or_else(Vec::new, |(_, flags)| flags.split_whitespace().collect())
}

fn x86(listed: &[&str], os_enables: &dyn Fn(&str) -> bool) -> CpuBuild {
    let mut flags: Vec<&str> = listed.to_vec();
    for (flag, implied) in X86_IMPLIED {
        if flags.contains(&flag) && !flags.contains(&implied) {
            flags.push(implied);
        }
    }
    let (avx_state, avx512_state) = (os_enables("avx"), os_enables("avx512f"));
    let usable = |flag: &str| {
        let needs_avx_state = flag.starts_with("avx") || matches!(flag, "fma" | "f16c");
        flags.contains(&flag) && (!needs_avx_state || avx_state) && (!flag.starts_with("avx512") || avx512_state)
    };
    let mut cmake_args = vec!["-DGGML_NATIVE=OFF".to_owned()];
    let mut on = Vec::new();
    for (option, needs) in X86_OPTIONS {
        let enabled = needs.iter().all(|f| usable(f));
        if enabled {
            on.push(option.trim_start_matches("GGML_"));
        }
        cmake_args.push(format!("-D{option}={}", if enabled { "ON" } else { "OFF" }));
    }
    let on = if on.is_empty() {
        "none".to_owned()
    } else {
        on.join(", ")
    };
    CpuBuild {
        cmake_args,
        reason: format!("x86-64, portable: the levels this CPU lists and the OS enables ({on})"),
    }
}

fn arm64(features: &[&str]) -> CpuBuild {
    let extensions: Vec<&str> = [("asimddp", "dotprod"), ("asimdhp", "fp16"), ("i8mm", "i8mm")]
        .into_iter()
        .filter(|(feature, _)| features.contains(feature))
        .map(|(_, extension)| extension)
        .collect();
    let arch = if extensions.is_empty() {
        "armv8-a".to_owned()
    } else {
        format!("armv8.2-a+{}", extensions.join("+"))
    };
    CpuBuild {
        cmake_args: vec!["-DGGML_NATIVE=OFF".into(), format!("-DGGML_CPU_ARM_ARCH={arch}")],
        reason: format!("arm64, portable: {arch} from the features the kernel lists; no SVE"),
    }
}

/// Whether the OS saves the register state of `avx` or `avx512f` (the CPU-feature probe reads
/// XCR0); elsewhere than x86-64 nothing is enabled.
fn os_enables(state: &str) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        match state {
            "avx" => std::arch::is_x86_feature_detected!("avx"),
            "avx512f" => std::arch::is_x86_feature_detected!("avx512f"),
            _ => false,
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = state;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x86_build(flags: &str, os_enables: &dyn Fn(&str) -> bool) -> Vec<String> {
        derive(
            "x86_64",
            "linux",
            &format!("processor\t: 0\nflags\t\t: {flags}\nbugs\t\t: spectre_v1\n"),
            os_enables,
        )
        .cmake_args
    }

    fn on(args: &[String]) -> Vec<&str> {
        args.iter()
            .filter_map(|a| a.strip_prefix("-D")?.strip_suffix("=ON"))
            .collect()
    }

    #[test]
    fn an_amx_cpu_gets_its_avx512_and_amx_levels() {
        let flags = "avx512f avx512bw avx512vl avx512dq avx512cd avx512_vnni avx512_bf16 amx_tile amx_int8 amx_bf16 avx2 fma f16c bmi2";
        let args = x86_build(flags, &|_| true);
        assert_eq!(args[0], "-DGGML_NATIVE=OFF");
        let avx512 = [
            "GGML_SSE42",
            "GGML_AVX",
            "GGML_AVX2",
            "GGML_BMI2",
            "GGML_FMA",
            "GGML_F16C",
            "GGML_AVX512",
            "GGML_AVX512_VNNI",
            "GGML_AVX512_BF16",
        ];
        assert_eq!(
            on(&args),
            [&avx512[..], &["GGML_AMX_TILE", "GGML_AMX_INT8", "GGML_AMX_BF16"]].concat()
        );
        // Every option is explicit: llama.cpp turns some on by default once GGML_NATIVE is off.
        assert_eq!(args.len(), 1 + X86_OPTIONS.len());
        // AMX without AVX-512 state in the OS is not built.
        assert!(!on(&x86_build(flags, &|s| s == "avx"))
            .iter()
            .any(|o| o.starts_with("GGML_AMX")));
        // A CPU without AMX gets every AMX option OFF.
        let no_amx = x86_build(
            "avx512f avx512bw avx512vl avx512dq avx512cd avx2 fma f16c bmi2",
            &|_| true,
        );
        assert!(no_amx.contains(&"-DGGML_AMX_INT8=OFF".to_owned()), "{no_amx:?}");
    }

    #[test]
    fn levels_follow_the_cpu_and_the_os() {
        let avx2_only = "fpu sse4_2 avx avx2 fma f16c bmi2";
        assert_eq!(
            on(&x86_build(avx2_only, &|_| true)),
            [
                "GGML_SSE42",
                "GGML_AVX",
                "GGML_AVX2",
                "GGML_BMI2",
                "GGML_FMA",
                "GGML_F16C"
            ]
        );
        // Half of AVX-512 is not the AVX512 level.
        assert!(!on(&x86_build("sse4_2 avx avx2 avx512f avx512cd", &|_| true)).contains(&"GGML_AVX512"));
        // An OS that does not save AVX-512 state: AVX2 at most.
        let icelake =
            "sse4_2 avx avx2 fma f16c bmi2 avx512f avx512cd avx512vl avx512dq avx512bw avx512vbmi avx512_vnni";
        assert_eq!(
            on(&x86_build(icelake, &|s| s == "avx")),
            [
                "GGML_SSE42",
                "GGML_AVX",
                "GGML_AVX2",
                "GGML_BMI2",
                "GGML_FMA",
                "GGML_F16C"
            ]
        );
        // No AVX state at all: SSE4.2 and BMI2.
        assert_eq!(on(&x86_build(icelake, &|_| false)), ["GGML_SSE42", "GGML_BMI2"]);
        // No flags line (an unreadable cpuinfo): nothing beyond x86-64.
        assert!(on(&derive("x86_64", "linux", "", &|_| true).cmake_args).is_empty());
    }

    #[test]
    fn arm64_linux_gets_an_arch_string_and_macos_stays_native() {
        let cpuinfo = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp asimddp i8mm sve\n";
        let build = derive("aarch64", "linux", cpuinfo, &|_| false);
        assert_eq!(
            build.cmake_args,
            ["-DGGML_NATIVE=OFF", "-DGGML_CPU_ARM_ARCH=armv8.2-a+dotprod+fp16+i8mm"]
        );
        assert_eq!(
            derive("aarch64", "linux", "Features\t: fp asimd\n", &|_| false).cmake_args[1],
            "-DGGML_CPU_ARM_ARCH=armv8-a"
        );
        assert!(derive("aarch64", "macos", "", &|_| false).cmake_args.is_empty());
    }
}
