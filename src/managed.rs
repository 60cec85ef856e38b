//! Servers the suite starts and stops itself: spawn, wait until ready (that wait is the load
//! time: `/health` answers, and for servers that answer it before their model is loaded, a probe
//! request has been served), and stop them on every path out — normal end, error, panic, Ctrl-C,
//! and (on Linux) even our own death by SIGKILL, through the parent-death signal.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How to launch one server.
#[derive(Clone, Debug)]
pub struct LaunchSpec {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub port: u16,
    /// Path polled until it answers 200, e.g. `/health`.
    pub health_path: String,
    /// A request posted once the health path answers, for servers that load their model after
    /// they start listening (mlx_lm.server): ready is when it has been served.
    pub ready_probe: Option<ReadyProbe>,
    pub ready_timeout: Duration,
    /// Where the server's stdout and stderr go.
    pub log_path: PathBuf,
    /// Extra environment variables (a config variant's, e.g. `GGML_*`).
    pub env: Vec<(String, String)>,
}

impl LaunchSpec {
    /// A server that is ready once `GET /health` answers 200, started with no extra environment.
    pub fn ready_on_health(
        program: PathBuf,
        args: Vec<String>,
        port: u16,
        ready_timeout: Duration,
        log_path: PathBuf,
    ) -> LaunchSpec {
        LaunchSpec {
            program,
            args,
            port,
            health_path: "/health".into(),
            ready_probe: None,
            ready_timeout,
            log_path,
            env: Vec::new(),
        }
    }

    /// What the load time of a server started this way spans, for the metadata.
    pub fn load_time_source(&self) -> String {
        match &self.ready_probe {
            None => format!("managed: process start → GET {} answers 200", self.health_path),
            Some(probe) => format!(
                "managed: process start → GET {} answers 200 and a probe POST {} has been served",
                self.health_path, probe.path
            ),
        }
    }
}

/// A POST to `path` (under the server's root) with a JSON `body`.
#[derive(Clone, Debug)]
pub struct ReadyProbe {
    pub path: String,
    pub body: serde_json::Value,
}

pub struct ManagedServer {
    child: Child,
    /// Base URL of its OpenAI-compatible API, ending in `/v1`.
    pub base_url: String,
    pub load_time: Duration,
    pub log_path: PathBuf,
}

/// PIDs of running managed servers, so a signal handler can stop them.
static RUNNING: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// A free TCP port on the loopback interface.
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

impl ManagedServer {
    /// Starts the server and waits until it is ready. Must run on the main thread: the
    /// parent-death signal is tied to the thread that spawns.
    pub async fn start(spec: &LaunchSpec, http: &reqwest::Client) -> Result<ManagedServer> {
        let log =
            std::fs::File::create(&spec.log_path).with_context(|| format!("creating {}", spec.log_path.display()))?;
        let mut cmd = Command::new(&spec.program);
        cmd.args(&spec.args)
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        detach_from_terminal_signals(&mut cmd);
        let started = Instant::now();
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", spec.program.display()))?;
        RUNNING.lock().unwrap_or_else(|e| e.into_inner()).push(child.id());
        let mut server = ManagedServer {
            child,
            base_url: format!("http://127.0.0.1:{}/v1", spec.port),
            load_time: Duration::ZERO,
            log_path: spec.log_path.clone(),
        };
        let health = format!("http://127.0.0.1:{}{}", spec.port, spec.health_path);
        loop {
            if let Some(status) = server.child.try_wait()? {
                use std::os::unix::process::ExitStatusExt;
                let how = status
                    .signal()
                    .map_or_else(|| format!("exited ({status})"), signal_text);
                let program = spec.program.file_name().map_or_else(
                    || spec.program.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                );
                return Err(NotReady {
                    signal: status.signal(),
                    program,
                    how,
                    log: log_name(&spec.log_path),
                }
                .into());
            }
            let ready = http
                .get(&health)
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                if let Some(probe) = &spec.ready_probe {
                    let left = spec.ready_timeout.saturating_sub(started.elapsed());
                    serve_probe(
                        http,
                        &format!("http://127.0.0.1:{}{}", spec.port, probe.path),
                        &probe.body,
                        left,
                    )
                    .await
                    .with_context(|| {
                        format!(
                            "{} did not serve its first request; log: {}",
                            spec.program.display(),
                            log_name(&spec.log_path)
                        )
                    })?;
                }
                server.load_time = started.elapsed();
                return Ok(server);
            }
            if started.elapsed() > spec.ready_timeout {
                bail!(
                    "{} was not ready after {} s; log: {}",
                    spec.program.display(),
                    spec.ready_timeout.as_secs(),
                    log_name(&spec.log_path)
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still alive.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// When the process has ended: how, in one line with its log's name.
    pub fn exited(&mut self) -> Option<String> {
        use std::os::unix::process::ExitStatusExt;
        let status = self.child.try_wait().ok()??;
        let how = status.signal().map_or_else(|| status.to_string(), signal_text);
        Some(format!(
            "the managed server exited ({how}); log: {}",
            log_name(&self.log_path)
        ))
    }

    /// SIGTERM, up to 10 s to exit, then SIGKILL.
    pub fn stop(&mut self) {
        if self.is_running() {
            terminate(self.child.id());
            let deadline = Instant::now() + Duration::from_secs(10);
            while self.is_running() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        RUNNING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|&pid| pid != self.child.id());
    }
}

/// Posts the probe once (a retry would queue a second request behind the first) and waits up to
/// `timeout` for the whole answer.
async fn serve_probe(http: &reqwest::Client, url: &str, body: &serde_json::Value, timeout: Duration) -> Result<()> {
    let response = http
        .post(url)
        .json(body)
        .timeout(timeout)
        .send()
        .await
        .with_context(|| format!("posting the start-up probe to {url}"))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .with_context(|| format!("reading the start-up probe's answer from {url}"))?;
    if !status.is_success() {
        bail!(
            "the start-up probe got HTTP {status}: {}",
            text.chars().take(300).collect::<String>()
        );
    }
    Ok(())
}

impl Drop for ManagedServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Stops every managed server still running; for signal handlers.
pub fn stop_all() {
    let pids = std::mem::take(&mut *RUNNING.lock().unwrap_or_else(|e| e.into_inner()));
    for pid in pids {
        terminate(pid);
    }
}

fn terminate(pid: u32) {
    // SAFETY: kill(2) with a PID we spawned and have not reaped; no memory is touched.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGTERM);
    }
}

/// Puts the server in its own process group, so a terminal's Ctrl-C reaches only us (we then
/// stop it in order), and on Linux asks the kernel to SIGTERM it if we die.
fn detach_from_terminal_signals(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
    #[cfg(target_os = "linux")]
    // SAFETY: prctl is async-signal-safe and only changes the child's own death-signal setting.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
}

/// A server that exited before it was ready; `signal` when a signal ended it.
#[derive(Debug, thiserror::Error)]
#[error("{program} did not start: {how}; log: {log}")]
pub struct NotReady {
    pub signal: Option<i32>,
    pub program: String,
    /// The signal in words, or the exit status.
    pub how: String,
    /// The log's file name.
    pub log: String,
}

/// A server that needed a second start with other arguments; kept in the group's metadata.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Fallback {
    /// The arguments added for the second start, e.g. `--no-repack`.
    pub args: String,
    /// What ended the first start.
    pub why: String,
}

/// Starts the server; one that a signal ends while it loads is started once more with
/// `retry_args` added (a signal there is a crash in the server, often in code chosen for this
/// CPU, which other arguments may avoid), its log in a second file. Returns the server and,
/// when the second start was needed, what it changed and why.
pub async fn start_with_retry(
    spec: &LaunchSpec,
    http: &reqwest::Client,
    retry_args: &[&str],
) -> Result<(ManagedServer, Option<Fallback>)> {
    let first = match ManagedServer::start(spec, http).await {
        Ok(server) => return Ok((server, None)),
        Err(e) => e,
    };
    let Some(crash) = first
        .downcast_ref::<NotReady>()
        .filter(|n| n.signal.is_some() && !retry_args.is_empty())
    else {
        return Err(first);
    };
    let mut retry = spec.clone();
    retry.args.extend(retry_args.iter().map(|a| a.to_string()));
    retry.log_path = spec
        .log_path
        .with_extension(format!("{}.log", retry_args.join("_").trim_start_matches('-')));
    let fallback = Fallback {
        args: retry_args.join(" "),
        why: crash.to_string(),
    };
    match ManagedServer::start(&retry, http).await {
        Ok(server) => Ok((server, Some(fallback))),
        Err(e) => match e.downcast_ref::<NotReady>() {
            Some(again) if again.how == crash.how => bail!(
                "{} did not start: {}, also with {}; logs: {}, {}",
                crash.program,
                crash.how,
                fallback.args,
                crash.log,
                again.log
            ),
            Some(again) => bail!(
                "{} did not start: {}; with {}: {}; logs: {}, {}",
                crash.program,
                crash.how,
                fallback.args,
                again.how,
                crash.log,
                again.log
            ),
            None => Err(e.context(format!("{}; started again with {}", crash, fallback.args))),
        },
    }
}

/// What a signal that ended a server means, in words.
pub fn signal_text(signal: i32) -> String {
    let (name, meaning) = match signal {
        libc::SIGILL => (
            "SIGILL",
            "the server used a CPU instruction this machine does not execute",
        ),
        libc::SIGSEGV => (
            "SIGSEGV",
            "the server read or wrote memory it does not own (a crash in the server)",
        ),
        libc::SIGBUS => (
            "SIGBUS",
            "the server touched memory that is not there (e.g. a truncated model file)",
        ),
        libc::SIGABRT => ("SIGABRT", "the server stopped itself on a failed check"),
        libc::SIGFPE => ("SIGFPE", "the server divided by zero or hit another arithmetic fault"),
        libc::SIGKILL => (
            "SIGKILL",
            "the server was killed, e.g. by the kernel when memory ran out",
        ),
        libc::SIGTERM => ("SIGTERM", "the server was asked to stop"),
        _ => return format!("signal {signal}"),
    };
    format!("{name}: {meaning}")
}

/// The file name of a log (it lies in the run directory), for one-line messages.
pub fn log_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// The last lines of a log file, for error messages.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut tail: Vec<&str> = text.lines().rev().take(lines).collect();
    tail.reverse();
    tail.join("\n")
}
