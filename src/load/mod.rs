//! Load benchmarks: many requests in flight at once against one endpoint.
//!
//! - `<model>/<quant>/concurrency`: closed loop at each level N (1, 2, 4, 8, 16 by default):
//!   N streams, each sending its next request the moment its previous one ends.
//! - `<model>/<quant>/open_loop`: requests arrive on a seeded Poisson (or constant) schedule at
//!   each configured rate, whether or not earlier ones have finished — a slow server never delays
//!   or drops a scheduled request (no coordinated omission); our own send lag is recorded.
//!
//! Both run a workload mix (default the seeds' 100/500/2000-token classes). Every request is a
//! full `GenerationRecord`, tagged with a [`LoadTag`]; `analysis` turns a level's records
//! into throughput, latency percentiles, fairness and per-class results (`concurrency.json`).
//!
//! A level runs on `client_threads` threads of its own, each with a current-thread runtime that
//! takes its share of the streams (stream i on thread i mod K) and opens their connections: a
//! stream's reads, parsing and timestamps stay on one thread, with no wake-ups handed between
//! threads. Timestamps are taken the moment each read returns. Connect times are kept apart from
//! TTFT (`client::connection`).

pub mod analysis;
pub mod schedule;

use crate::client::connection::{self, Opened};
use crate::client::{self, Endpoint, GenerationRequest, Limits, Observation, Prepared, Sampling};
use crate::util::nanos;
use futures_util::future::join_all;
use schedule::{Arrivals, Job};
use serde::Serialize;
use std::sync::{mpsc, Arc};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use crate::record::{LoadKind, LoadTag};

/// Resolved load settings of a group (see `config::RunSettings` for each field's meaning).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LoadSettings {
    pub concurrency_levels: Vec<u32>,
    pub concurrency_requests: u32,
    pub load_mix: Vec<u32>,
    pub open_loop_rates: Vec<f64>,
    pub open_loop_arrivals: Arrivals,
    pub open_loop_requests: u32,
    pub prefill_sizes: Vec<u32>,
    pub prefill_samples: u32,
}

impl LoadSettings {
    pub const DEFAULT_LEVELS: [u32; 5] = [1, 2, 4, 8, 16];
    /// The seeds' mixed workload: short, medium and long answers.
    pub const DEFAULT_MIX: [u32; 3] = [100, 500, 2000];
    pub const DEFAULT_REQUESTS: u32 = 32;

    /// The load benchmarks this group has: concurrency and prefill always, open loop when rates are set.
    pub fn kinds(&self) -> Vec<LoadKind> {
        LoadKind::ALL
            .into_iter()
            .filter(|k| *k != LoadKind::OpenLoop || !self.open_loop_rates.is_empty())
            .collect()
    }

    /// Requests at closed-loop level `n`: `concurrency_requests`, but at least 2 per stream so
    /// that a steady state (all streams busy) exists between the first and the last requests.
    pub fn requests_at(&self, streams: u32) -> u32 {
        self.concurrency_requests.max(2 * streams)
    }

    /// Most requests ever in flight in a closed-loop level: the server slots a managed server needs.
    pub fn max_streams(&self) -> u32 {
        self.concurrency_levels.iter().copied().max().unwrap_or(1)
    }
}

/// One level to run.
#[derive(Clone, Debug)]
pub enum Shape {
    Closed {
        streams: u32,
    },
    Open {
        rate_per_s: f64,
        arrivals: Arrivals,
        seed: u64,
    },
}

/// A finished request of a level: its tag, prompt and budget, and what the client observed.
#[derive(Debug)]
pub struct Finished {
    pub tag: LoadTag,
    pub prompt_id: String,
    pub max_tokens: u32,
    pub observation: Observation,
}

/// What every request of a level shares.
pub struct LevelContext<'a> {
    /// For metrics scrapes, from every thread of the level: it must keep no idle connections
    /// (`client::http_client` keeps none), since a connection belongs to the runtime it was
    /// opened on and each thread's runtime ends with the level.
    pub http: &'a reqwest::Client,
    pub endpoint: &'a Endpoint,
    pub sampling: &'a Sampling,
    pub limits: &'a Limits,
    /// Threads the level's streams (or open-loop requests) are spread over ([`client_threads`]).
    pub threads: usize,
}

/// Overrides the default number of client threads.
pub const CLIENT_THREADS_ENV: &str = "QUANTBENCH_CLIENT_THREADS";

/// Threads of a load level ([`run_level`]): `$QUANTBENCH_CLIENT_THREADS`, else a quarter of the
/// logical cores, at least 1 and at most 4. One thread costs the least CPU per token (about 6 µs
/// at 256 streams on the 16-core machine, `benches/client_fidelity/`) but must take every
/// wake-up of a burst in turn, and one core is not enough at 256 streams × 667 tokens/s; a few
/// threads, each with its own streams, share that work while leaving most cores to a model
/// server on the same machine.
pub fn client_threads() -> anyhow::Result<usize> {
    match std::env::var(CLIENT_THREADS_ENV) {
        Ok(text) => match text.trim().parse::<usize>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => anyhow::bail!("{CLIENT_THREADS_ENV}={text:?}: expected a whole number of threads, at least 1"),
        },
        Err(_) => Ok(default_client_threads(
            std::thread::available_parallelism().map_or(1, |n| n.get()),
        )),
    }
}

/// The default for a machine with `cores` logical cores (see [`client_threads`]).
pub fn default_client_threads(cores: usize) -> usize {
    (cores / 4).clamp(1, 4)
}

/// A closed-loop stream opens the connection of its next request after the previous one ends
/// (llama-server closes each after its stream); an open-loop request opens its connection this
/// long before it is due, so that the connect is not part of the send lag.
pub const CONNECT_AHEAD: Duration = Duration::from_millis(50);

/// Runs one level: all `jobs`, closed loop over `streams` (job i on stream i mod N, each stream
/// in order) or open loop on the arrival schedule. Returns the requests in job order. Blocks
/// until the level ends: call it outside any runtime (the suite's main thread).
///
/// Before the level's clock starts, every request body is serialized and (closed loop) the N
/// first connections are opened, so that a level's first wave does not time N connects at once.
/// The streams (closed loop) or requests (open loop) are spread over `cx.threads` threads, each
/// running a current-thread runtime with its share as tasks that open and drive their own
/// connections: on the multi-thread runtime used before, wake-ups handed between worker threads
/// cost about 10 µs more per token at 256 streams on 16 cores (docs/client.md).
pub fn run_level(cx: &LevelContext<'_>, kind: LoadKind, shape: &Shape, jobs: &[Job<'_>]) -> Vec<Finished> {
    let prepared = jobs.iter().map(|job| {
        Prepared::new(
            cx.endpoint,
            &GenerationRequest {
                messages: &job.prompt.messages,
                max_tokens: job.max_tokens,
                sampling: cx.sampling,
                tools: None,
            },
        )
    });
    let (shares, lead) = match *shape {
        Shape::Closed { streams } => {
            let streams = streams.max(1) as usize;
            let mut lists: Vec<Vec<(usize, Result<Prepared, String>)>> = (0..streams).map(|_| Vec::new()).collect();
            for (i, p) in prepared.enumerate() {
                lists[i % streams].push((i, p));
            }
            let threads = cx.threads.clamp(1, streams);
            let mut shares: Vec<Vec<_>> = (0..threads).map(|_| Vec::new()).collect();
            for (s, list) in lists.into_iter().enumerate() {
                shares[s % threads].push(list);
            }
            (
                shares.into_iter().map(Share::Streams).collect::<Vec<_>>(),
                Duration::ZERO,
            )
        }
        Shape::Open {
            rate_per_s,
            arrivals,
            seed,
        } => {
            let schedule = schedule::arrivals(arrivals, rate_per_s, jobs.len() as u32, seed);
            let threads = cx.threads.clamp(1, jobs.len().max(1));
            let mut shares: Vec<Vec<_>> = (0..threads).map(|_| Vec::new()).collect();
            for (i, (p, at)) in prepared.zip(schedule).enumerate() {
                shares[i % threads].push((i, p, at));
            }
            (shares.into_iter().map(Share::Requests).collect(), CONNECT_AHEAD)
        }
    };
    let (start, mut sent) = run_shares(shares, cx, lead);
    sent.sort_by_key(|s| s.index);
    let offset = |at: Instant| nanos(at.saturating_duration_since(start));
    let streams = match shape {
        Shape::Closed { streams } => Some((*streams).max(1)),
        Shape::Open { .. } => None,
    };
    sent.into_iter()
        .map(
            |Sent {
                 index: i,
                 due,
                 observation,
             }| {
                let tag = LoadTag {
                    benchmark: kind,
                    level: match shape {
                        Shape::Closed { streams } => Some(*streams),
                        Shape::Open { .. } => None,
                    },
                    rate_per_s: match shape {
                        Shape::Closed { .. } => None,
                        Shape::Open { rate_per_s, .. } => Some(*rate_per_s),
                    },
                    stream: streams.map_or(i as u32, |n| i as u32 % n),
                    request: i as u32,
                    class_max_tokens: jobs[i].max_tokens,
                    scheduled_ns: offset(due),
                    sent_ns: offset(observation.sent.unwrap_or(due)),
                };
                Finished {
                    tag,
                    prompt_id: jobs[i].prompt.id.clone(),
                    max_tokens: jobs[i].max_tokens,
                    observation,
                }
            },
        )
        .collect()
}

/// One thread's part of a level.
enum Share {
    /// Closed-loop streams, each its requests (index in the level, request) in order.
    Streams(Vec<Vec<(usize, Result<Prepared, String>)>>),
    /// Open-loop requests, each with when it is due after the level's start.
    Requests(Vec<(usize, Result<Prepared, String>, Duration)>),
}

/// Runs each share on a thread of its own. The level's clock starts when every thread is ready
/// (its first connections open), `lead` later; returns that start and every request as sent. A
/// thread's panic is the caller's once all threads have ended.
fn run_shares(shares: Vec<Share>, cx: &LevelContext<'_>, lead: Duration) -> (Instant, Vec<Sent>) {
    let (ready, all_ready) = mpsc::channel::<()>();
    std::thread::scope(|scope| {
        let mut threads = Vec::with_capacity(shares.len());
        for (k, share) in shares.into_iter().enumerate() {
            let (go, started) = mpsc::channel::<Instant>();
            let shared: Shared = Arc::new((cx.http.clone(), cx.limits.clone()));
            let ready = ready.clone();
            let thread = std::thread::Builder::new()
                .name(format!("quantbench-load-{k}"))
                .spawn_scoped(scope, move || run_share(share, shared, ready, started))
                .expect("starting a load thread");
            threads.push((thread, go));
        }
        drop(ready);
        // Ends when every thread has said it is ready and dropped its sender (or has died).
        while all_ready.recv().is_ok() {}
        let start = Instant::now() + lead;
        let mut sent = Vec::new();
        for (_, go) in &threads {
            let _ = go.send(start); // a thread that died is joined below
        }
        for (thread, _) in threads {
            match thread.join() {
                Ok(done) => sent.extend(done),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        (start, sent)
    })
}

/// One thread of a level: its own current-thread runtime, on which its closed-loop streams open
/// their first connections before it reports `ready`; then, from the level's start, every stream
/// or request as a task (a task drives its own connection, `client::connection`).
fn run_share(share: Share, shared: Shared, ready: mpsc::Sender<()>, started: mpsc::Receiver<Instant>) -> Vec<Sent> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("building a load thread's runtime");
    let first: Vec<Option<Opened>> = match &share {
        Share::Streams(lists) => rt.block_on(join_all(lists.iter().map(|list| async move {
            match list.first() {
                Some((_, Ok(p))) => Some(connection::open(&p.authority).await),
                _ => None,
            }
        }))),
        Share::Requests(_) => Vec::new(),
    };
    let _ = ready.send(());
    drop(ready);
    let Ok(start) = started.recv() else {
        return Vec::new(); // another thread died before the level's start: its panic is the caller's
    };
    rt.block_on(async move {
        let runs: Vec<JoinHandle<Vec<Sent>>> = match share {
            Share::Streams(lists) => lists
                .into_iter()
                .zip(first)
                .map(|(list, first)| tokio::spawn(closed_stream(shared.clone(), list, first, start)))
                .collect(),
            Share::Requests(requests) => requests
                .into_iter()
                .map(|(i, p, at)| tokio::spawn(open_request(shared.clone(), i, p, start + at)))
                .collect(),
        };
        let mut sent = Vec::new();
        for run in join_all(runs).await {
            match run {
                Ok(done) => sent.extend(done),
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(e) => panic!("a load stream was cancelled: {e}"),
            }
        }
        sent
    })
}

/// A request of a level as sent: its index in the level, when it was due, what was observed.
struct Sent {
    index: usize,
    due: Instant,
    observation: Observation,
}

/// What every task of a level shares.
type Shared = Arc<(reqwest::Client, Limits)>;

/// One closed-loop stream: its requests in order, each due when the previous one ended. The
/// first request's connection was opened before the level's clock.
async fn closed_stream(
    shared: Shared,
    list: Vec<(usize, Result<Prepared, String>)>,
    mut first: Option<Opened>,
    start: Instant,
) -> Vec<Sent> {
    let (http, limits) = &*shared;
    let mut done = Vec::with_capacity(list.len());
    let mut due = start;
    for (index, prepared) in list {
        let observation = match prepared {
            Ok(p) => {
                let opened = match first.take() {
                    Some(opened) => opened,
                    None => connection::open(&p.authority).await,
                };
                client::send(http, &p, opened, limits).await
            }
            Err(reason) => Observation::unsent(reason),
        };
        done.push(Sent {
            index,
            due,
            observation,
        });
        // The next request is due the moment the client has finished with this one.
        due = Instant::now();
    }
    done
}

/// One open-loop request: its connection opened [`CONNECT_AHEAD`] before it is due, then sent
/// when due.
async fn open_request(shared: Shared, index: usize, prepared: Result<Prepared, String>, due: Instant) -> Vec<Sent> {
    let (http, limits) = &*shared;
    let observation = match prepared {
        Ok(p) => {
            tokio::time::sleep_until(due.checked_sub(CONNECT_AHEAD).unwrap_or(due)).await;
            let opened = connection::open(&p.authority).await;
            tokio::time::sleep_until(due).await;
            client::send(http, &p, opened, limits).await
        }
        Err(reason) => Observation::unsent(reason),
    };
    vec![Sent {
        index,
        due,
        observation,
    }]
}
