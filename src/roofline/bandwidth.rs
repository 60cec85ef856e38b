//! Memory bandwidth, the ceiling of a memory-bound decode: Apple's published figure for the chip
//! (a documented table), or elsewhere a short measured read of main memory by the CPU.

use serde::{Deserialize, Serialize};
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BandwidthKind {
    /// The vendor's published peak (Apple silicon: unified memory, shared by CPU and GPU).
    Published,
    /// Measured here: all cores summing a buffer much larger than the caches. A CPU figure —
    /// a GPU (or a machine with more memory channels in use) may read faster.
    MeasuredCpuRead,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bandwidth {
    pub bytes_per_s: f64,
    pub kind: BandwidthKind,
    /// Where the figure comes from, for the report.
    pub source: String,
}

/// A chip's name, its published GB/s, and for chips sold in two variants the smaller one's
/// CPU core count and GB/s.
type Chip = (&'static str, f64, Option<(usize, f64)>);

/// Apple's published unified-memory bandwidth per chip, GB/s (10⁹ bytes), from Apple's
/// announcements and the Macs' technical specifications (apple.com/newsroom, the "Tech Specs"
/// pages at support.apple.com/specs). Chips sold with two bandwidths are told apart by CPU
/// cores: the M3 Max with 14 cores has 300 GB/s and with 16 cores 400; the M4 Max 410 and 546.
/// Order matters: longer names first, so "Apple M3 Max" is not read as "Apple M3".
const APPLE_CHIPS: &[Chip] = &[
    ("M1 Ultra", 800.0, None),
    ("M1 Max", 400.0, None),
    ("M1 Pro", 200.0, None),
    ("M1", 68.25, None),
    ("M2 Ultra", 800.0, None),
    ("M2 Max", 400.0, None),
    ("M2 Pro", 200.0, None),
    ("M2", 100.0, None),
    ("M3 Ultra", 819.0, None),
    ("M3 Max", 400.0, Some((14, 300.0))),
    ("M3 Pro", 150.0, None),
    ("M3", 100.0, None),
    ("M4 Max", 546.0, Some((14, 410.0))),
    ("M4 Pro", 273.0, None),
    ("M4", 120.0, None),
    ("M5", 153.0, None),
];

/// The published figure for an Apple chip (`machdep.cpu.brand_string`, e.g. "Apple M3 Ultra");
/// `cores` tells the two M3 Max and M4 Max variants apart. None for other chips.
pub fn apple_published(brand: &str, cores: Option<usize>) -> Option<Bandwidth> {
    let chip = brand.trim().strip_prefix("Apple ")?;
    let (name, gb_s, smaller) = APPLE_CHIPS
        .iter()
        .find(|(name, ..)| chip == *name || chip.starts_with(&format!("{name} ")))?;
    let gb_s = match (smaller, cores) {
        (Some((few, small)), Some(n)) if n <= *few => *small,
        _ => *gb_s,
    };
    let variant = if smaller.is_some() {
        format!(", {} CPU cores", cores.map_or("unknown".into(), |n| n.to_string()))
    } else {
        String::new()
    };
    Some(Bandwidth {
        bytes_per_s: gb_s * 1e9,
        kind: BandwidthKind::Published,
        source: format!("Apple's published unified-memory bandwidth for the {name}{variant}: {gb_s} GB/s (peak)"),
    })
}

/// Buffer the probe reads: far larger than any CPU cache, small enough to allocate anywhere.
const PROBE_BYTES: usize = 256 << 20;
const PROBE_PASSES: usize = 4;

/// Measures how fast all cores together read main memory: each thread sums its share of a
/// 256 MiB buffer; the fastest of four passes counts (fewer interruptions). Takes well under a
/// second; run it outside any measurement.
pub fn measure_cpu_read() -> Bandwidth {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let buffer: Vec<u64> = (0..PROBE_BYTES / 8).map(|i| i as u64).collect();
    let chunk = buffer.len().div_ceil(threads);
    let mut best = f64::INFINITY;
    for _ in 0..PROBE_PASSES {
        let started = Instant::now();
        std::thread::scope(|s| {
            for part in buffer.chunks(chunk) {
                s.spawn(move || std::hint::black_box(part.iter().fold(0u64, |a, v| a.wrapping_add(*v))));
            }
        });
        best = best.min(started.elapsed().as_secs_f64());
    }
    let bytes_per_s = PROBE_BYTES as f64 / best;
    Bandwidth {
        bytes_per_s,
        kind: BandwidthKind::MeasuredCpuRead,
        source: format!(
            "measured: {threads} CPU thread(s) reading {} MiB, fastest of {PROBE_PASSES} passes: {:.1} GB/s (a CPU figure, not a GPU's)",
            PROBE_BYTES >> 20,
            bytes_per_s / 1e9
        ),
    }
}

/// The machine's figure: Apple's published one for an Apple chip, else a measured CPU read.
pub fn for_machine(machine: &crate::sysmon::Machine) -> Bandwidth {
    let cores = machine.physical_cores.or(Some(machine.logical_cores));
    machine
        .chip
        .as_deref()
        .and_then(|chip| apple_published(chip, cores))
        .unwrap_or_else(measure_cpu_read)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apple_chips_are_looked_up_by_name_and_core_count() {
        let gb = |brand: &str, cores| apple_published(brand, cores).map(|b| b.bytes_per_s / 1e9);
        assert_eq!(gb("Apple M3 Ultra", Some(32)), Some(819.0));
        assert_eq!(gb("Apple M3", Some(8)), Some(100.0));
        assert_eq!(gb("Apple M3 Max", Some(14)), Some(300.0));
        assert_eq!(gb("Apple M3 Max", Some(16)), Some(400.0));
        assert_eq!(gb("Apple M4 Max", Some(16)), Some(546.0));
        assert_eq!(gb("Apple M4 Pro", Some(14)), Some(273.0));
        assert_eq!(gb("Intel(R) Xeon(R) CPU", Some(2)), None);
        assert_eq!(gb("Apple M9", None), None);
        assert!(apple_published("Apple M4 Max", Some(14))
            .unwrap()
            .source
            .contains("410 GB/s"));
    }
}
