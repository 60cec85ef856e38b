//! Resident memory of a server's process tree while a group runs, sampled ten times a second on
//! a background thread, never on the streaming path.
//!
//! The process tree (the server and its descendants, e.g. Ollama's runners) is re-discovered
//! once a second; in between only its known processes are read. On Linux a sample reads only the
//! tree's own `/proc` files (measured: tens of µs per sample for a small tree, well under
//! 0.1 % of one core at 10 Hz), so the rate can be high enough to catch a peak of memory
//! that lasts a fraction of a second (a prompt batch's buffers) without costing the server CPU. An external server is found by
//! the port it listens on (Linux: `/proc/net/tcp*` socket inodes matched against `/proc/*/fd`;
//! macOS: `lsof`), or by a configured process name.

use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

/// Time between samples.
pub const SAMPLE_INTERVAL: Duration = Duration::from_millis(100);
/// Samples between re-discoveries of the process tree.
const REDISCOVER_EVERY: u32 = 10;

/// Resident memory of a server during one group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemoryStats {
    /// The root process sampled and how it was found.
    pub pid: u32,
    pub found_by: String,
    pub samples: usize,
    pub interval_ms: u64,
    /// The first sample, taken before the group's first generation: the loaded, idle server.
    pub idle_rss_bytes: u64,
    pub peak_rss_bytes: u64,
    /// Median of all samples taken while the group ran: the level the server stays at.
    pub steady_rss_bytes: u64,
    /// Peak and steady resident memory over the model file's size (GB per GB), when that is known.
    pub peak_rss_per_model_gb: Option<f64>,
    pub steady_rss_per_model_gb: Option<f64>,
}

/// A running sampler; [`MemorySampler::stop`] ends it and summarizes.
pub struct MemorySampler {
    pid: u32,
    found_by: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Vec<u64>>>,
}

impl Drop for MemorySampler {
    /// A sampler dropped without [`MemorySampler::stop`] (the run failed) stops its thread too.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl MemorySampler {
    /// Starts sampling the tree rooted at `pid` now (the first sample is taken before this returns).
    pub fn start(pid: u32, found_by: String) -> MemorySampler {
        let stop = Arc::new(AtomicBool::new(false));
        let (first_tx, first_rx) = std::sync::mpsc::channel();
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut sampler = TreeSampler::new(Pid::from_u32(pid));
                let mut samples = Vec::new();
                let mut next = Instant::now();
                while samples.is_empty() || !stop.load(Ordering::Relaxed) {
                    if let Some(rss) = sampler.sample((samples.len() as u32).is_multiple_of(REDISCOVER_EVERY)) {
                        samples.push(rss);
                    } else if samples.is_empty() {
                        break; // gone before the first sample
                    }
                    if samples.len() == 1 {
                        let _ = first_tx.send(());
                    }
                    next += SAMPLE_INTERVAL;
                    std::thread::sleep(next.saturating_duration_since(Instant::now()));
                }
                samples
            })
        };
        let _ = first_rx.recv_timeout(Duration::from_secs(5));
        MemorySampler {
            pid,
            found_by,
            stop,
            thread: Some(thread),
        }
    }

    /// Stops sampling; `None` when not one sample was taken (the process was gone).
    pub fn stop(mut self, model_file_bytes: Option<u64>) -> Option<MemoryStats> {
        self.stop.store(true, Ordering::Relaxed);
        let samples = self.thread.take()?.join().ok()?;
        summarize(self.pid, std::mem::take(&mut self.found_by), &samples, model_file_bytes)
    }
}

fn summarize(pid: u32, found_by: String, samples: &[u64], model_file_bytes: Option<u64>) -> Option<MemoryStats> {
    let idle = *samples.first()?;
    let peak = *samples.iter().max()?;
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let steady = sorted[sorted.len() / 2];
    let per_gb = |bytes: u64| model_file_bytes.filter(|&m| m > 0).map(|m| bytes as f64 / m as f64);
    Some(MemoryStats {
        pid,
        found_by,
        samples: samples.len(),
        interval_ms: SAMPLE_INTERVAL.as_millis() as u64,
        idle_rss_bytes: idle,
        peak_rss_bytes: peak,
        steady_rss_bytes: steady,
        peak_rss_per_model_gb: per_gb(peak),
        steady_rss_per_model_gb: per_gb(steady),
    })
}

/// Reads the resident memory of one process tree, and nothing else: on Linux only the tree's
/// own `/proc/<pid>/statm` and `/proc/<pid>/task/*/children` files (a few µs per process); where
/// those are unavailable, sysinfo, which lists every process on the machine to re-discover the
/// tree.
struct TreeSampler {
    system: Option<System>,
    root: Pid,
    tree: Vec<Pid>,
}

impl TreeSampler {
    fn new(root: Pid) -> TreeSampler {
        TreeSampler {
            system: None,
            root,
            tree: vec![root],
        }
    }

    /// The tree's total RSS; `rediscover` looks for new children. `None` once the root process
    /// is gone.
    fn sample(&mut self, rediscover: bool) -> Option<u64> {
        if let Some(rss) = proc_tree::rss_bytes(self.root.as_u32()) {
            if rediscover {
                if let Some(tree) = proc_tree::descendants(self.root.as_u32()) {
                    self.tree = tree.into_iter().map(Pid::from_u32).collect();
                }
            }
            let others = self
                .tree
                .iter()
                .filter(|p| **p != self.root)
                .filter_map(|p| proc_tree::rss_bytes(p.as_u32()));
            return Some(rss + others.sum::<u64>());
        }
        self.sample_with_sysinfo(rediscover)
    }

    fn sample_with_sysinfo(&mut self, rediscover: bool) -> Option<u64> {
        if self.system.is_none() {
            self.system = System::new().ok();
        }
        let system = self.system.as_mut()?;
        let kind = ProcessRefreshKind::nothing().with_memory();
        if rediscover {
            system.refresh_processes_specifics(ProcessesToUpdate::All, true, kind);
            self.tree = descendants(system, self.root);
        } else {
            system.refresh_processes_specifics(ProcessesToUpdate::Some(&self.tree), true, kind);
        }
        system.process(self.root)?;
        Some(
            self.tree
                .iter()
                .filter_map(|pid| system.process(*pid))
                .map(|p| p.memory())
                .sum(),
        )
    }
}

/// The process tree from Linux's `/proc`, reading only the tree's own files.
#[cfg(target_os = "linux")]
mod proc_tree {
    /// Resident bytes of `pid` (`statm`'s second field, in pages); None when it is gone or
    /// there is no `/proc`.
    pub fn rss_bytes(pid: u32) -> Option<u64> {
        let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
        let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
        // SAFETY: sysconf only reads a configuration value.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        Some(pages * u64::try_from(page).ok()?)
    }

    /// `root` and its descendants from each thread's `children` file; None when the kernel has
    /// no such files (built without CONFIG_PROC_CHILDREN).
    pub fn descendants(root: u32) -> Option<Vec<u32>> {
        let mut tree = vec![root];
        let mut i = 0;
        while i < tree.len() {
            let tasks = std::fs::read_dir(format!("/proc/{}/task", tree[i])).ok();
            for task in tasks.into_iter().flatten().flatten() {
                let children = std::fs::read_to_string(task.path().join("children"));
                if children.is_err() && i == 0 {
                    return None;
                }
                tree.extend(
                    children
                        .unwrap_or_default()
                        .split_whitespace()
                        .filter_map(|c| c.parse::<u32>().ok()),
                );
            }
            i += 1;
        }
        Some(tree)
    }
}

#[cfg(not(target_os = "linux"))]
mod proc_tree {
    pub fn rss_bytes(_pid: u32) -> Option<u64> {
        None
    }

    pub fn descendants(_root: u32) -> Option<Vec<u32>> {
        None
    }
}

/// `root` and every process descended from it, from sysinfo's list of all processes. Threads,
/// which sysinfo lists as processes on Linux, are left out: they share their process's memory,
/// and counting them would multiply it.
fn descendants(system: &System, root: Pid) -> Vec<Pid> {
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        let children = system
            .processes()
            .iter()
            .filter(|(_, p)| p.parent() == Some(parent) && p.thread_kind().is_none());
        tree.extend(children.map(|(pid, _)| *pid));
        i += 1;
    }
    tree
}

/// The process listening on TCP `port` on this machine, and how it was found.
pub fn find_listener(port: u16) -> Result<(u32, String), String> {
    listener_pid(port).map(|pid| (pid, format!("listening on port {port}")))
}

#[cfg(target_os = "linux")]
fn listener_pid(port: u16) -> Result<u32, String> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // local_address is HEX_IP:HEX_PORT; state 0A is LISTEN; field 9 is the socket inode.
            let (Some(local), Some(state), Some(inode)) = (fields.get(1), fields.get(3), fields.get(9)) else {
                continue;
            };
            let listening_port = local.rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok());
            if *state == "0A" && listening_port == Some(port) {
                inodes.push(format!("socket:[{inode}]"));
            }
        }
    }
    if inodes.is_empty() {
        return Err(format!("nothing listens on port {port} on this machine"));
    }
    let procs = std::fs::read_dir("/proc").map_err(|e| format!("reading /proc: {e}"))?;
    for entry in procs.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if std::fs::read_link(fd.path()).is_ok_and(|target| inodes.iter().any(|i| target.as_os_str() == i.as_str()))
            {
                return Ok(pid);
            }
        }
    }
    Err(format!(
        "a socket listens on port {port}, but its process is not visible (another user's, or in a container)"
    ))
}

#[cfg(target_os = "macos")]
fn listener_pid(port: u16) -> Result<u32, String> {
    let out = std::process::Command::new("lsof")
        .args(["-nP", &format!("-iTCP:{port}"), "-sTCP:LISTEN", "-t"])
        .output()
        .map_err(|e| format!("running lsof: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.trim().parse().ok())
        .ok_or_else(|| format!("lsof finds nothing listening on port {port}"))
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
fn listener_pid(port: u16) -> Result<u32, String> {
    Err(format!(
        "finding the process on port {port} is not supported on this OS; set `process_name` on the endpoint"
    ))
}

/// The oldest process named `name` (the server rather than a helper it started).
pub fn find_by_name(name: &str) -> Result<(u32, String), String> {
    let mut system = System::new().map_err(|e| format!("listing processes: {e}"))?;
    system.refresh_processes_specifics(ProcessesToUpdate::All, true, ProcessRefreshKind::nothing());
    system
        .processes()
        .values()
        .filter(|p| p.name().to_string_lossy() == name)
        .min_by_key(|p| (p.start_time(), p.pid()))
        .map(|p| (p.pid().as_u32(), format!("process named {name:?}")))
        .ok_or_else(|| format!("no process named {name:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_is_the_median_and_rates_are_per_gb_of_model() {
        let s = summarize(7, "test".into(), &[100, 300, 200, 250, 220], Some(200)).unwrap();
        assert_eq!(
            (s.idle_rss_bytes, s.peak_rss_bytes, s.steady_rss_bytes),
            (100, 300, 220)
        );
        assert_eq!(
            (s.peak_rss_per_model_gb, s.steady_rss_per_model_gb),
            (Some(1.5), Some(1.1))
        );
        assert_eq!(
            summarize(7, "test".into(), &[5], None).unwrap().steady_rss_per_model_gb,
            None
        );
        assert!(summarize(7, "test".into(), &[], None).is_none());
    }

    #[test]
    fn a_listener_and_a_child_are_found_and_sampled() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        if cfg!(any(target_os = "linux", target_os = "macos")) {
            assert_eq!(find_listener(port).unwrap().0, std::process::id());
        }
        // This test process has several threads; its RSS must be counted once.
        let threads: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| std::thread::sleep(Duration::from_millis(500))))
            .collect();
        let own = TreeSampler::new(Pid::from_u32(std::process::id()))
            .sample(true)
            .unwrap();
        if let Some(vm_rss) = own_vm_rss() {
            assert!(
                own as f64 <= vm_rss as f64 * 1.5,
                "{own} B counted, the kernel says {vm_rss} B"
            );
        }
        threads.into_iter().for_each(|t| t.join().unwrap());
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let mut sampler = TreeSampler::new(Pid::from_u32(std::process::id()));
        let own_and_child = sampler.sample(true).unwrap();
        let started = Instant::now();
        let cpu = thread_cpu();
        for _ in 0..100 {
            sampler.sample(true).unwrap();
        }
        println!(
            "one sample with re-discovery: {:?} wall, {:?} CPU",
            started.elapsed() / 100,
            (thread_cpu() - cpu) / 100
        );
        assert!(
            sampler.tree.contains(&Pid::from_u32(child.id())),
            "the child is part of the tree"
        );
        assert!(own_and_child > 0);
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(
            TreeSampler::new(Pid::from_u32(u32::MAX - 1)).sample(true).is_none(),
            "no such process"
        );
    }

    fn thread_cpu() -> Duration {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `ts` is a valid timespec to write to.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }

    /// This process's resident memory as Linux reports it.
    fn own_vm_rss() -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kb * 1024)
    }
}
