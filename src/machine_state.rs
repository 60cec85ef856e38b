//! Was the machine fit to measure? Its state sampled at the start of a run, before each
//! benchmark and at the end — load average, pressure stall information, CPU frequency and
//! thermal zones on Linux; CPU speed limit, power source, swap and memory pressure on macOS —
//! and a pre-flight check that says what would distort the numbers before any is measured.
//!
//! Sampling reads a few small files (Linux) or runs `pmset`/`sysctl` (macOS, a few ms each):
//! it happens between benchmarks, never while a generation streams. The parsers are pure
//! functions over the text those sources print, so they are tested on fixed outputs.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Environment variable that turns the pre-flight warnings into a refusal to start.
pub const STRICT_ENV: &str = "QUANTBENCH_STRICT";

/// Linux pressure stall information (`/proc/pressure/*`): the share of the last 10 s in which
/// some (or all) runnable tasks waited for the resource, in percent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Pressure {
    pub some_avg10: f64,
    pub full_avg10: Option<f64>,
}

/// One thermal zone (`/sys/class/thermal/thermal_zone*`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThermalZone {
    pub kind: String,
    pub celsius: f64,
    /// The lowest passive trip point, where the kernel starts to throttle.
    pub passive_trip_celsius: Option<f64>,
}

/// The machine's state at one moment. Anything the OS does not tell is absent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MachineState {
    /// RFC 3339 UTC.
    pub at: String,
    pub load_average: Option<[f64; 3]>,
    pub cpu_pressure: Option<Pressure>,
    pub memory_pressure: Option<Pressure>,
    pub io_pressure: Option<Pressure>,
    /// Mean current and highest maximum CPU frequency over the cores, MHz (Linux cpufreq).
    pub cpu_mhz: Option<f64>,
    pub cpu_max_mhz: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thermal: Vec<ThermalZone>,
    /// macOS `pmset -g therm`: the CPU speed limit in percent (100 when none is recorded).
    pub cpu_speed_limit_pct: Option<u32>,
    /// macOS `pmset -g batt`: drawing from the battery rather than AC power.
    pub on_battery: Option<bool>,
    pub swap_used_bytes: Option<u64>,
    /// macOS `kern.memorystatus_vm_pressure_level`: normal, warn or critical.
    pub memory_pressure_level: Option<String>,
}

impl MachineState {
    /// The CPU is held below full speed: a macOS speed limit under 100 %, or a Linux thermal
    /// zone at or above its passive trip point.
    pub fn throttled(&self) -> bool {
        self.cpu_speed_limit_pct.is_some_and(|p| p < 100)
            || self
                .thermal
                .iter()
                .any(|z| z.passive_trip_celsius.is_some_and(|t| z.celsius >= t))
    }

    /// What makes numbers measured in this state suspect, one sentence each.
    pub fn concerns(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(limit) = self.cpu_speed_limit_pct.filter(|p| *p < 100) {
            out.push(format!(
                "the CPU is throttled: speed limited to {limit} % (pmset -g therm)"
            ));
        }
        for z in self
            .thermal
            .iter()
            .filter(|z| z.passive_trip_celsius.is_some_and(|t| z.celsius >= t))
        {
            out.push(format!(
                "thermal zone {} at {:.0} °C, at or above its passive trip point (throttling)",
                z.kind, z.celsius
            ));
        }
        if self.on_battery == Some(true) {
            out.push("running on battery power".into());
        }
        if self.memory_pressure_level.as_deref().is_some_and(|l| l != "normal") {
            out.push(format!(
                "memory pressure is {}",
                self.memory_pressure_level.as_deref().unwrap_or_default()
            ));
        }
        out
    }
}

/// Parses `/proc/loadavg`: "0.52 0.58 0.59 1/467 12345".
pub fn parse_loadavg(text: &str) -> Option<[f64; 3]> {
    let mut f = text.split_whitespace().map(|v| v.parse::<f64>().ok());
    Some([f.next()??, f.next()??, f.next()??])
}

/// Parses a `/proc/pressure/{cpu,memory,io}` file:
/// "some avg10=1.23 avg60=… total=…" and, except for older kernels' cpu, "full avg10=…".
pub fn parse_pressure(text: &str) -> Option<Pressure> {
    let avg10 = |kind: &str| {
        let line = text.lines().find(|l| l.starts_with(kind))?;
        line.split_whitespace()
            .find_map(|f| f.strip_prefix("avg10="))?
            .parse::<f64>()
            .ok()
    };
    Some(Pressure {
        some_avg10: avg10("some ")?,
        full_avg10: avg10("full "),
    })
}

/// Parses `pmset -g therm`: `CPU_Speed_Limit = 70` gives 70; "No CPU power status has been
/// recorded" means no limit (100).
pub fn parse_pmset_therm(text: &str) -> Option<u32> {
    let limit = text.lines().find_map(|l| {
        let (key, value) = l.split_once('=')?;
        (key.trim() == "CPU_Speed_Limit")
            .then(|| value.trim().parse::<u32>().ok())
            .flatten()
    });
    limit.or_else(|| text.contains("No CPU power status has been recorded").then_some(100))
}

/// Parses `pmset -g batt`: "Now drawing from 'Battery Power'" or "'AC Power'".
pub fn parse_pmset_batt(text: &str) -> Option<bool> {
    let source = text
        .lines()
        .find_map(|l| l.split_once("Now drawing from '")?.1.split_once('\'').map(|(s, _)| s))?;
    Some(source == "Battery Power")
}

/// Parses `sysctl -n kern.memorystatus_vm_pressure_level`: 1 normal, 2 warn, 4 critical.
pub fn parse_pressure_level(text: &str) -> Option<String> {
    Some(
        match text.trim().parse::<u32>().ok()? {
            1 => "normal",
            2 => "warn",
            4 => "critical",
            _ => return None,
        }
        .into(),
    )
}

/// Parses a thermal zone's `temp` (millidegrees) and its trip points, given as
/// (`trip_point_N_type`, `trip_point_N_temp`) file contents.
pub fn parse_thermal_zone(kind: &str, temp: &str, trips: &[(String, String)]) -> Option<ThermalZone> {
    let celsius = temp.trim().parse::<f64>().ok()? / 1000.0;
    let passive = trips
        .iter()
        .filter(|(t, _)| t.trim() == "passive")
        .filter_map(|(_, v)| v.trim().parse::<f64>().ok())
        .filter(|v| *v > 0.0)
        .map(|v| v / 1000.0);
    Some(ThermalZone {
        kind: kind.trim().into(),
        celsius,
        passive_trip_celsius: passive.reduce(f64::min),
    })
}

/// Samples the machine's state now.
pub fn sample() -> MachineState {
    let read = |path: &str| std::fs::read_to_string(path).ok();
    let mut state = MachineState {
        at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        load_average: read("/proc/loadavg").as_deref().and_then(parse_loadavg),
        cpu_pressure: read("/proc/pressure/cpu").as_deref().and_then(parse_pressure),
        memory_pressure: read("/proc/pressure/memory").as_deref().and_then(parse_pressure),
        io_pressure: read("/proc/pressure/io").as_deref().and_then(parse_pressure),
        thermal: linux_thermal(),
        swap_used_bytes: sysinfo::System::new().ok().map(|mut s| {
            s.refresh_memory();
            s.used_swap()
        }),
        ..Default::default()
    };
    (state.cpu_mhz, state.cpu_max_mhz) = linux_cpu_mhz();
    if cfg!(target_os = "macos") {
        let run = |cmd: &str, args: &[&str]| {
            std::process::Command::new(cmd)
                .args(args)
                .output()
                .ok()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        };
        state.cpu_speed_limit_pct = run("pmset", &["-g", "therm"]).as_deref().and_then(parse_pmset_therm);
        state.on_battery = run("pmset", &["-g", "batt"]).as_deref().and_then(parse_pmset_batt);
        state.memory_pressure_level = run("sysctl", &["-n", "kern.memorystatus_vm_pressure_level"])
            .as_deref()
            .and_then(parse_pressure_level);
        state.load_average = state
            .load_average
            .or_else(|| sysinfo::System::load_average().ok().map(|l| [l.one, l.five, l.fifteen]));
    }
    state
}

fn linux_thermal() -> Vec<ThermalZone> {
    let Ok(dir) = std::fs::read_dir("/sys/class/thermal") else {
        return Vec::new();
    };
    let mut zones: Vec<_> = dir
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("thermal_zone"))
        })
        .collect();
    zones.sort();
    zones
        .iter()
        .filter_map(|zone| {
            let read = |name: &str| std::fs::read_to_string(zone.join(name)).ok();
            let trips: Vec<(String, String)> = (0..16)
                .map_while(|i| {
                    Some((
                        read(&format!("trip_point_{i}_type"))?,
                        read(&format!("trip_point_{i}_temp"))?,
                    ))
                })
                .collect();
            parse_thermal_zone(&read("type")?, &read("temp")?, &trips)
        })
        .collect()
}

/// Mean current and highest maximum frequency over the cores' cpufreq files, MHz.
fn linux_cpu_mhz() -> (Option<f64>, Option<f64>) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let khz = |cpu: usize, file: &str| {
        std::fs::read_to_string(format!("/sys/devices/system/cpu/cpu{cpu}/cpufreq/{file}"))
            .ok()?
            .trim()
            .parse::<f64>()
            .ok()
    };
    let current: Vec<f64> = (0..cores).filter_map(|c| khz(c, "scaling_cur_freq")).collect();
    let max = (0..cores).filter_map(|c| khz(c, "cpuinfo_max_freq")).reduce(f64::max);
    (
        (!current.is_empty()).then(|| current.iter().sum::<f64>() / current.len() as f64 / 1e3),
        max.map(|m| m / 1e3),
    )
}

/// What the pre-flight check found: the state at the start and every warning.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Preflight {
    pub state: MachineState,
    /// CPU used by other processes during the check, in cores, and the busiest of them.
    pub others_cores: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub busiest: Vec<(String, f64)>,
    pub warnings: Vec<String>,
}

/// How long the check watches the other processes' CPU use and the swap.
const PREFLIGHT_WINDOW: Duration = Duration::from_millis(500);
/// Other processes together using more than this many cores distort the timings.
const BUSY_CORES: f64 = 1.0;
/// Swap growing by more than this during the window means memory is being paged out now.
const SWAP_GROWTH_BYTES: u64 = 1 << 20;

/// Watches the machine for half a second before measuring: other processes' CPU use, swap
/// growth, and the concerns of its state (throttling, battery, memory pressure).
pub fn preflight() -> Preflight {
    use sysinfo::{ProcessRefreshKind, ProcessesToUpdate, System};
    let refresh = |sys: &mut System| {
        sys.refresh_processes_specifics(ProcessesToUpdate::All, true, ProcessRefreshKind::nothing().with_cpu())
    };
    let mut sys = System::new().ok();
    if let Some(sys) = sys.as_mut() {
        refresh(sys);
    }
    let before = sample();
    std::thread::sleep(PREFLIGHT_WINDOW);
    let state = sample();
    let own = std::process::id();
    let usage: Option<Vec<(String, f64)>> = sys.as_mut().map(|sys| {
        refresh(sys);
        let mut usage: Vec<(String, f64)> = sys
            .processes()
            .iter()
            .filter(|(pid, _)| pid.as_u32() != own)
            .map(|(_, p)| (printable(&p.name().to_string_lossy()), f64::from(p.cpu_usage()) / 100.0))
            .filter(|(_, cores)| *cores > 0.01)
            .collect();
        usage.sort_by(|a, b| b.1.total_cmp(&a.1));
        usage
    });
    let others_cores = usage.as_ref().map(|u| u.iter().map(|(_, c)| c).sum::<f64>());
    let busiest: Vec<(String, f64)> = usage.unwrap_or_default().into_iter().take(3).collect();
    let swap_growth = state
        .swap_used_bytes
        .zip(before.swap_used_bytes)
        .map(|(after, before)| after.saturating_sub(before));
    Preflight {
        warnings: warnings(&state, others_cores, &busiest, swap_growth),
        state,
        others_cores,
        busiest,
    }
}

/// A process name without control characters: it is printed to the terminal as it is.
fn printable(name: &str) -> String {
    name.chars().filter(|c| !c.is_control()).collect()
}

/// The pre-flight warnings, from what the check saw (pure, for tests).
pub fn warnings(
    state: &MachineState,
    others_cores: Option<f64>,
    busiest: &[(String, f64)],
    swap_growth: Option<u64>,
) -> Vec<String> {
    let mut out = state.concerns();
    if let Some(cores) = others_cores.filter(|c| *c > BUSY_CORES) {
        let names: Vec<String> = busiest.iter().map(|(name, c)| format!("{name} {c:.1}")).collect();
        out.push(format!(
            "other processes use {cores:.1} CPU cores (busiest: {})",
            names.join(", ")
        ));
    }
    if let Some(grew) = swap_growth.filter(|g| *g > SWAP_GROWTH_BYTES) {
        out.push(format!(
            "swap grew by {:.1} MB in {} ms: memory is being paged out",
            grew as f64 / 1e6,
            PREFLIGHT_WINDOW.as_millis()
        ));
    }
    out
}

/// Whether `QUANTBENCH_STRICT` asks to refuse a run that the pre-flight check warns about.
pub fn strict() -> bool {
    std::env::var(STRICT_ENV).is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false"))
}

/// The machine's state over a run: the pre-flight check and the state at the end (each
/// benchmark's is in the summary).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunStates {
    pub preflight: Option<Preflight>,
    pub end: Option<MachineState>,
}

/// "load 1.2 / 0.9 / 0.8; CPU pressure 12 %; …" — one line per state, for reports.
pub fn state_text(s: &MachineState) -> String {
    let mut parts = Vec::new();
    if let Some([a, b, c]) = s.load_average {
        parts.push(format!("load {a:.2} / {b:.2} / {c:.2}"));
    }
    for (name, p) in [
        ("CPU", s.cpu_pressure),
        ("memory", s.memory_pressure),
        ("IO", s.io_pressure),
    ] {
        if let Some(p) = p {
            parts.push(format!("{name} pressure {:.1} %", p.some_avg10));
        }
    }
    if let Some(mhz) = s.cpu_mhz {
        parts.push(format!(
            "CPU {mhz:.0} MHz{}",
            s.cpu_max_mhz.map_or(String::new(), |m| format!(" of {m:.0}"))
        ));
    }
    if let Some(hottest) = s.thermal.iter().max_by(|a, b| a.celsius.total_cmp(&b.celsius)) {
        parts.push(format!("hottest zone {} {:.0} °C", hottest.kind, hottest.celsius));
    }
    if let Some(limit) = s.cpu_speed_limit_pct {
        parts.push(format!("CPU speed limit {limit} %"));
    }
    if let Some(battery) = s.on_battery {
        parts.push(if battery {
            "on battery".into()
        } else {
            "on AC power".into()
        });
    }
    if let Some(swap) = s.swap_used_bytes {
        parts.push(format!("swap used {:.2} GB", swap as f64 / 1e9));
    }
    if let Some(level) = &s.memory_pressure_level {
        parts.push(format!("memory pressure {level}"));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pmset_outputs_give_the_speed_limit_and_power_source() {
        let none = "Note: No thermal warning level has been recorded\nNote: No performance warning level has been recorded\nNote: No CPU power status has been recorded\n";
        assert_eq!(parse_pmset_therm(none), Some(100));
        let limited = "Note: No thermal warning level has been recorded\nNote: No performance warning level has been recorded\nCPU Power notify\n\tCPU_Scheduler_Limit \t= 100\n\tCPU_Available_CPUs \t= 8\n\tCPU_Speed_Limit \t= 70\n";
        assert_eq!(parse_pmset_therm(limited), Some(70));
        assert_eq!(parse_pmset_therm(""), None);
        let battery = "Now drawing from 'Battery Power'\n -InternalBattery-0 (id=4653155)\t83%; discharging; 5:12 remaining present: true\n";
        let ac = "Now drawing from 'AC Power'\n -InternalBattery-0 (id=4653155)\t100%; charged; 0:00 remaining present: true\n";
        assert_eq!(
            (
                parse_pmset_batt(battery),
                parse_pmset_batt(ac),
                parse_pmset_batt("Now drawing from 'AC Power'\n")
            ),
            (Some(true), Some(false), Some(false))
        );
        assert_eq!(parse_pressure_level("4\n").as_deref(), Some("critical"));
        let state = MachineState {
            cpu_speed_limit_pct: Some(70),
            on_battery: Some(true),
            ..Default::default()
        };
        assert!(state.throttled());
        assert_eq!(state.concerns().len(), 2);
        assert!(!MachineState {
            cpu_speed_limit_pct: Some(100),
            ..Default::default()
        }
        .throttled());
    }

    #[test]
    fn linux_files_give_load_pressure_and_thermal_throttling() {
        assert_eq!(parse_loadavg("0.52 0.58 0.59 1/467 12345\n"), Some([0.52, 0.58, 0.59]));
        let cpu =
            "some avg10=12.50 avg60=3.10 avg300=0.80 total=123456\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
        assert_eq!(
            parse_pressure(cpu),
            Some(Pressure {
                some_avg10: 12.5,
                full_avg10: Some(0.0)
            })
        );
        assert_eq!(
            parse_pressure("some avg10=0.10 avg60=0.00 avg300=0.00 total=1\n")
                .unwrap()
                .full_avg10,
            None
        );
        let trips = vec![
            ("critical\n".to_owned(), "105000\n".to_owned()),
            ("passive\n".to_owned(), "95000\n".to_owned()),
        ];
        let hot = parse_thermal_zone("x86_pkg_temp\n", "96000\n", &trips).unwrap();
        assert_eq!((hot.celsius, hot.passive_trip_celsius), (96.0, Some(95.0)));
        assert!(MachineState {
            thermal: vec![hot.clone()],
            ..Default::default()
        }
        .throttled());
        let cool = ThermalZone { celsius: 60.0, ..hot };
        assert!(!MachineState {
            thermal: vec![cool],
            ..Default::default()
        }
        .throttled());
    }

    #[test]
    fn preflight_warns_about_busy_cores_and_growing_swap() {
        let busiest = vec![("rustc".to_owned(), 1.6), ("cc1plus".to_owned(), 0.9)];
        let w = warnings(&MachineState::default(), Some(2.5), &busiest, Some(50 << 20));
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("2.5 CPU cores") && w[0].contains("rustc 1.6"));
        assert!(w[1].contains("swap grew"));
        assert!(warnings(&MachineState::default(), Some(0.3), &[], Some(0)).is_empty());
        let s = sample();
        assert!(!s.at.is_empty());
        if cfg!(target_os = "linux") {
            assert!(s.load_average.is_some());
        }
    }
}
