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
//! Each stream of a level is a task on the suite's runtime, whose worker threads
//! (`client_threads`) share them: no thread per stream, and timestamps are still taken by the
//! client the moment each read returns. Connect times are kept apart from TTFT (`client::connection`).

pub mod analysis;
pub mod schedule;

use crate::client::connection::{self, Opened};
use crate::client::{self, Endpoint, GenerationRequest, Limits, Observation, Prepared, Sampling};
use crate::util::nanos;
use futures_util::future::join_all;
use schedule::{Arrivals, Job};
use serde::Serialize;
use std::sync::Arc;
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
    pub http: &'a reqwest::Client,
    pub endpoint: &'a Endpoint,
    pub sampling: &'a Sampling,
    pub limits: &'a Limits,
}

/// Overrides the default number of the client runtime's worker threads.
pub const CLIENT_THREADS_ENV: &str = "QUANTBENCH_CLIENT_THREADS";

/// Worker threads of the client's runtime: `$QUANTBENCH_CLIENT_THREADS`, else a quarter of the
/// logical cores, at least 1 and at most 4. At 256 streams the client needs well under one core
/// of CPU (about 2 µs per token), but one thread must take every wake-up of a burst in turn; a
/// few threads cut that queueing (`benches/client_fidelity/` measures it per thread count)
/// while leaving most cores to a model server on the same machine.
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
/// in order) or open loop on the arrival schedule. Returns the requests in job order.
///
/// Before the level's clock starts, every request body is serialized and (closed loop) the N
/// first connections are opened, so that a level's first wave does not time N connects at once.
/// Each stream (closed loop) or request (open loop) is a task of its own, so a runtime with
/// several worker threads spreads the level's streams over them.
pub async fn run_level(cx: &LevelContext<'_>, kind: LoadKind, shape: &Shape, jobs: &[Job<'_>]) -> Vec<Finished> {
    let prepared: Vec<Result<Prepared, String>> = jobs
        .iter()
        .map(|job| {
            Prepared::new(
                cx.endpoint,
                &GenerationRequest {
                    messages: &job.prompt.messages,
                    max_tokens: job.max_tokens,
                    sampling: cx.sampling,
                    tools: None,
                },
            )
        })
        .collect();
    let shared = Arc::new((cx.http.clone(), cx.limits.clone()));
    let (start, runs): (Instant, Vec<JoinHandle<Vec<Sent>>>) = match *shape {
        Shape::Closed { streams } => {
            let streams = streams.max(1) as usize;
            let mut lists: Vec<Vec<(usize, Result<Prepared, String>)>> = (0..streams).map(|_| Vec::new()).collect();
            for (i, p) in prepared.into_iter().enumerate() {
                lists[i % streams].push((i, p));
            }
            let first = join_all(lists.iter().map(|list| async move {
                match list.first() {
                    Some((_, Ok(p))) => Some(connection::open(&p.authority).await),
                    _ => None,
                }
            }))
            .await;
            let start = Instant::now();
            let runs = lists
                .into_iter()
                .zip(first)
                .map(|(list, first)| tokio::spawn(closed_stream(shared.clone(), list, first, start)))
                .collect();
            (start, runs)
        }
        Shape::Open {
            rate_per_s,
            arrivals,
            seed,
        } => {
            let schedule = schedule::arrivals(arrivals, rate_per_s, jobs.len() as u32, seed);
            let start = Instant::now() + CONNECT_AHEAD;
            let runs = prepared
                .into_iter()
                .zip(schedule)
                .enumerate()
                .map(|(i, (p, at))| tokio::spawn(open_request(shared.clone(), i, p, start + at)))
                .collect();
            (start, runs)
        }
    };
    let mut sent: Vec<Sent> = Vec::with_capacity(jobs.len());
    for run in join_all(runs).await {
        match run {
            Ok(done) => sent.extend(done),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("a load stream was cancelled: {e}"),
        }
    }
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
