//! Is the client the bottleneck? The streaming client and load engine against a scripted test
//! server (a simulated endpoint in this process) at 1, 64 and 256 concurrent streams.
//!
//! - criterion times the client's CPU (not wall) time per level run, with the streamed tokens as
//!   throughput: the process's CPU less that of its lasting threads other than this one (the
//!   in-process server's), i.e. this thread's and that of the level's own threads, which have
//!   ended when `run_level` returns: all the client's work (HTTP, SSE parsing, timestamps), none
//!   of the server's. Linux (`/proc/self/task`).
//! - Then, per stream count, it prints: client CPU per streamed token (target ≤ 5 µs), events
//!   ingested per second of wall time, and timestamp error — the client's arrival stamp of each
//!   token minus the moment the server finished writing it (same process, same monotonic clock)
//!   — against a zero-delay server (every event written as fast as possible: the client's
//!   backlog shows) and a paced one (a token every 5 ms per stream; target ≤ 0.5 ms at 64).
//!
//! `cargo bench --bench client_overhead`

#[path = "../tests/support/mod.rs"]
mod support;

use criterion::{Criterion, Throughput};
use quantbench::client::{http_client, Endpoint, Limits, Sampling};
use quantbench::dialect::{self, DialectOptions, ServerKind};
use quantbench::load::schedule::Job;
use quantbench::load::{run_level, Finished, LevelContext, LoadKind, Shape};
use quantbench::prompts::{Message, Prompt};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use support::{content, done, finish, ms, role, step, usage, Script, ScriptedServer};

const STREAM_COUNTS: [u32; 3] = [1, 64, 256];
/// Tokens per request.
const TOKENS: u32 = 200;

/// Request `n`'s answer: `TOKENS` content events `gap` apart (all at once when zero); the first
/// names the request, so each stream is matched to what the server wrote for it.
fn answer(n: usize, gap: Duration) -> Script {
    let mut steps = vec![step(ms(0), role())];
    steps.extend((0..TOKENS).map(|i| step(gap * i, content(&if i == 0 { format!("r{n} ") } else { "tok ".into() }))));
    let end = gap * (TOKENS - 1);
    steps.extend([
        step(end, finish("length")),
        step(end, usage(8, u64::from(TOKENS))),
        step(end, done()),
    ]);
    Script::ok(steps)
}

struct LevelRun {
    finished: Vec<Finished>,
    cpu: Duration,
    wall: Duration,
}

/// The time of a CPU clock; None when it cannot be read (a thread that has ended).
fn cpu_clock(clock: libc::clockid_t) -> Option<Duration> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec to write to; an unknown clock is an error return.
    (unsafe { libc::clock_gettime(clock, &mut ts) } == 0).then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

/// The CPU time of every thread of this process but the calling one, by thread id. A thread's
/// CPU clock is Linux's encoding of its id (what `pthread_getcpuclockid` returns).
fn other_threads_cpu() -> HashMap<i32, Duration> {
    // SAFETY: gettid has no preconditions.
    let me = unsafe { libc::gettid() };
    std::fs::read_dir("/proc/self/task")
        .expect("reading /proc/self/task")
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&tid| tid != me)
        .filter_map(|tid| Some((tid, cpu_clock(((!tid) << 3) | 6)?)))
        .collect()
}

/// The client's CPU time over `run`: the process's less that of the other threads alive at
/// its end (the server's), so this thread's and that of the threads that ran the level.
fn client_cpu<T>(run: impl FnOnce() -> T) -> (T, Duration) {
    let (process0, others0) = (cpu_clock(libc::CLOCK_PROCESS_CPUTIME_ID).unwrap(), other_threads_cpu());
    let done = run();
    let process = cpu_clock(libc::CLOCK_PROCESS_CPUTIME_ID).unwrap() - process0;
    let others: Duration = other_threads_cpu()
        .into_iter()
        .map(|(tid, cpu)| cpu.saturating_sub(others0.get(&tid).copied().unwrap_or_default()))
        .sum();
    (done, process.saturating_sub(others))
}

struct Client {
    http: reqwest::Client,
    endpoint: Endpoint,
    prompt: Prompt,
}

impl Client {
    fn new(server: &ScriptedServer) -> Client {
        Client {
            http: http_client().unwrap(),
            endpoint: Endpoint {
                base_url: server.url.clone(),
                model_id: "scripted".into(),
                api_key: None,
                dialect: dialect::for_kind(ServerKind::Openai, DialectOptions::default()),
            },
            prompt: Prompt {
                id: "p".into(),
                category: "c".into(),
                lang: None,
                messages: vec![Message::text("user", "hi")],
                max_tokens: TOKENS,
                temperature: None,
                check: None,
                set: "b".into(),
            },
        }
    }

    /// One closed-loop level: `streams` requests at once.
    fn run(&self, streams: u32) -> LevelRun {
        let (sampling, limits) = (Sampling::default(), Limits::default());
        let cx = LevelContext {
            http: &self.http,
            endpoint: &self.endpoint,
            sampling: &sampling,
            limits: &limits,
            threads: 1,
        };
        let jobs: Vec<Job> = (0..streams)
            .map(|_| Job {
                prompt: &self.prompt,
                max_tokens: TOKENS,
            })
            .collect();
        let wall0 = Instant::now();
        let (finished, cpu) = client_cpu(|| run_level(&cx, LoadKind::Concurrency, &Shape::Closed { streams }, &jobs));
        let wall = wall0.elapsed();
        for f in &finished {
            assert!(f.observation.error.is_none(), "{:?}", f.observation.error);
            assert_eq!(f.observation.token_times.len(), TOKENS as usize);
        }
        LevelRun { finished, cpu, wall }
    }
}

/// |arrival stamp − server write time| of every token, milliseconds, sorted.
fn timestamp_errors_ms(server: &ScriptedServer, run: &LevelRun) -> Vec<f64> {
    let served = server.served();
    let mut errors = Vec::new();
    for f in &run.finished {
        let obs = &f.observation;
        let sent = obs.sent.unwrap();
        let n: usize = obs
            .output
            .content
            .trim_start_matches('r')
            .split(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("the first token names the request");
        let s = served.iter().find(|s| s.request == n).expect("the server served it");
        for (i, at) in obs.token_times.iter().enumerate() {
            let (arrived, written) = (sent + *at, s.written[1 + i]);
            errors.push(
                if arrived >= written {
                    arrived - written
                } else {
                    written - arrived
                }
                .as_secs_f64()
                    * 1e3,
            );
        }
    }
    errors.sort_by(f64::total_cmp);
    errors
}

fn quantile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let mut criterion = Criterion::default()
        .configure_from_args()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_millis(1));
    let zero = ScriptedServer::start(|n| answer(n, Duration::ZERO));
    let client = Client::new(&zero);
    let mut group = criterion.benchmark_group("client_overhead");
    for streams in STREAM_COUNTS {
        group.throughput(Throughput::Elements(u64::from(streams * TOKENS)));
        group.bench_function(format!("cpu_{streams}_streams"), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| client.run(streams).cpu).sum())
        });
    }
    group.finish();

    let paced = ScriptedServer::start(|n| answer(n, ms(5)));
    let paced_client = Client::new(&paced);
    println!("\nclient overhead: {TOKENS} tokens per stream, one event per token, one connection per stream");
    println!(
        "{:>8} {:>14} {:>14} {:>30} {:>30}",
        "streams", "CPU µs/token", "events/s", "ts error zero-delay p50/p99 ms", "ts error paced 5ms p50/p99/max ms"
    );
    for streams in STREAM_COUNTS {
        let runs: Vec<LevelRun> = (0..3).map(|_| client.run(streams)).collect();
        let tokens = f64::from(streams * TOKENS) * runs.len() as f64;
        let cpu_us = runs.iter().map(|r| r.cpu.as_secs_f64()).sum::<f64>() * 1e6 / tokens;
        let events_per_s = tokens / runs.iter().map(|r| r.wall.as_secs_f64()).sum::<f64>();
        let zero_errors = timestamp_errors_ms(&zero, &runs[runs.len() - 1]);
        let paced_errors = timestamp_errors_ms(&paced, &paced_client.run(streams));
        println!(
            "{streams:>8} {cpu_us:>14.2} {events_per_s:>14.0} {:>30} {:>30}",
            format!(
                "{:.3} / {:.3}",
                quantile(&zero_errors, 0.5),
                quantile(&zero_errors, 0.99)
            ),
            format!(
                "{:.3} / {:.3} / {:.3}",
                quantile(&paced_errors, 0.5),
                quantile(&paced_errors, 0.99),
                paced_errors.last().unwrap()
            )
        );
    }
    criterion.final_summary();
}
