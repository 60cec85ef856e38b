//! How `quantbench summary`, `report` and `compare` scale with the size of a run: synthetic runs
//! (see `tests/synthetic`) of 1k, 10k and 100k generations (20 groups × 5 categories, 500
//! inter-token gaps each, as a long run with 2,000-token budgets has), each command run as a
//! child process several times. Reported per size and command: wall time (median, min, max),
//! peak resident memory of the child (`ru_maxrss` from `wait4`) and the size of what it wrote.
//!
//! Not part of the default `cargo bench` (`bench = false`); run it with
//! `cargo bench --bench report_scale [-- SIZES...]`, e.g. `-- 1000 10000`. `QUANTBENCH_BIN`
//! measures another build of the `quantbench` binary (e.g. an older commit's);
//! `QUANTBENCH_SCALE_DIR` says where the runs are written (default: the system's temp dir);
//! `QUANTBENCH_SCALE_REPEATS` how often each command runs (default 3); `--keep` keeps the runs
//! (for a profiler).

#[path = "../tests/synthetic/mod.rs"]
mod synthetic;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// One run of a child process: how long it took and its peak resident memory.
struct Measured {
    wall: Duration,
    peak_rss_bytes: u64,
}

/// Runs `bin args` to its end and returns its time and peak RSS; panics if it fails.
// The child is reaped by `wait4` (which alone gives its own peak RSS), not by `Child::wait`,
// which clippy cannot see.
#[allow(clippy::zombie_processes)]
fn measure(bin: &Path, args: &[&str], cwd: &Path) -> Measured {
    let start = Instant::now();
    let child = Command::new(bin)
        .args(args)
        .current_dir(cwd)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("starting quantbench");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data, filled in by wait4 for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    assert_eq!(waited, pid, "wait4: {}", std::io::Error::last_os_error());
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{} {args:?} failed (status {status})",
        bin.display()
    );
    // Linux reports ru_maxrss in KiB.
    Measured {
        wall,
        peak_rss_bytes: usage.ru_maxrss as u64 * 1024,
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn row(label: &str, generations: usize, records_bytes: u64, runs: &[Measured], output: Option<&Path>) {
    let mut times: Vec<f64> = runs.iter().map(|m| m.wall.as_secs_f64()).collect();
    times.sort_by(f64::total_cmp);
    let peak = runs.iter().map(|m| m.peak_rss_bytes).max().unwrap_or(0);
    let written = output.map_or("–".into(), |path| {
        let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        format!("{} {}", path.file_name().unwrap().to_string_lossy(), mb(bytes))
    });
    println!(
        "| {label} | {generations} | {} | {:.2} s [{:.2}, {:.2}] | {} ({:.2}× records) | {written} |",
        mb(records_bytes),
        times[times.len() / 2],
        times[0],
        times[times.len() - 1],
        mb(peak),
        peak as f64 / records_bytes as f64,
    );
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1_000, 10_000, 100_000]
    } else {
        sizes
    };
    let bin = std::env::var_os("QUANTBENCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_quantbench")));
    let repeats: usize = std::env::var("QUANTBENCH_SCALE_REPEATS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3)
        .max(1);
    let keep = std::env::args().any(|a| a == "--keep");
    let base = std::env::var_os("QUANTBENCH_SCALE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    println!(
        "quantbench report scaling: {} (each command {repeats}×; time: median [min, max])\n",
        bin.display()
    );
    println!("| command | generations | records file | time | peak memory | wrote |");
    println!("|---|---|---|---|---|---|");
    for generations in sizes {
        let shape = synthetic::Shape {
            groups: 20,
            categories: 5,
            samples: generations.div_ceil(100),
            gaps: 500,
        };
        let root = tempfile::tempdir_in(&base).expect("a temporary reports directory");
        let run_id = "2026-11-25T12-00-00.000Z-00001";
        let dir = synthetic::write_run(root.path(), run_id, shape);
        let records_bytes = std::fs::metadata(dir.join("generations.jsonl")).unwrap().len();
        let runs: Vec<Measured> = (0..repeats)
            .map(|_| measure(&bin, &["summary", run_id], root.path()))
            .collect();
        row(
            "summary",
            shape.generations(),
            records_bytes,
            &runs,
            Some(&dir.join("summary.json")),
        );
        // A run id as RUN_DIR from inside the reports directory; `./` for builds that need a path.
        let runs: Vec<Measured> = (0..repeats)
            .map(|_| measure(&bin, &["report", &format!("./{run_id}")], root.path()))
            .collect();
        row(
            "report",
            shape.generations(),
            records_bytes,
            &runs,
            Some(&dir.join("index.html")),
        );
        // The run against itself: every benchmark and metric compared, both sides read.
        let this = format!("./{run_id}");
        let runs: Vec<Measured> = (0..repeats)
            .map(|_| measure(&bin, &["compare", &this, &this], root.path()))
            .collect();
        row("compare", shape.generations(), records_bytes, &runs, None);
        if keep {
            println!("(kept: {})", root.keep().display());
        }
    }
}
