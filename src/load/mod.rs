//! Load benchmarks: many requests in flight at once against one endpoint.
//!
//! - `<model>/<quant>/concurrency`: closed loop at each level N (1, 2, 4, 8, 16 by default):
//!   N streams, each sending its next request the moment its previous one ends.
//! - `<model>/<quant>/open_loop`: requests arrive on a seeded Poisson (or constant) schedule at
//!   each configured rate, whether or not earlier ones have finished — a slow server never delays
//!   or drops a scheduled request (no coordinated omission); our own send lag is recorded.
//!
//! Both run a workload mix (default the seeds' 100/500/2000-token classes). Every request is a
//! full `GenerationRecord`, tagged with a [`ConcurrencyTag`]; `analysis` turns a level's records
//! into throughput, latency percentiles, fairness and per-class results (`concurrency.json`).
//!
//! All streams of a level are futures of one task on the suite's runtime: no thread per stream,
//! and timestamps are still taken by the client the moment each read returns.

pub mod analysis;
pub mod schedule;

use crate::client::{self, Endpoint, GenerationRequest, Limits, Observation, Sampling};
use futures_util::future::join_all;
use schedule::{Arrivals, Job};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::time::Instant;

/// The load benchmarks of a group, by the name that ends their benchmark id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadKind {
    Concurrency,
    OpenLoop,
    /// Long-context prefill (`crate::prefill`): single requests, run with the load benchmarks
    /// because it too is opt-in and uses the same server set-up.
    Prefill,
}

impl LoadKind {
    pub const ALL: [LoadKind; 3] = [LoadKind::Concurrency, LoadKind::OpenLoop, LoadKind::Prefill];

    pub fn name(self) -> &'static str {
        match self {
            LoadKind::Concurrency => "concurrency",
            LoadKind::OpenLoop => "open_loop",
            LoadKind::Prefill => "prefill",
        }
    }
}

/// The file in the run directory holding [`analysis::LoadReport`].
pub const REPORT_FILE: &str = "concurrency.json";

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
        LoadKind::ALL.into_iter().filter(|k| *k != LoadKind::OpenLoop || !self.open_loop_rates.is_empty()).collect()
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

/// Which load level, stream and request a generation was, and when it was sent. Offsets are
/// from the level's start, on the same monotonic clock as the record's own timestamps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConcurrencyTag {
    pub benchmark: LoadKind,
    /// Closed loop: the number of concurrent streams.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<u32>,
    /// Open loop: the arrival rate, requests per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_per_s: Option<f64>,
    /// Closed loop: the stream (0..level); open loop: equal to `request`.
    pub stream: u32,
    /// Index of the request within the level, in schedule order.
    pub request: u32,
    /// The mix class (the `max_tokens` asked for).
    pub class_max_tokens: u32,
    /// When the request was due: open loop, its arrival time; closed loop, the end of the
    /// stream's previous request (0 for its first).
    pub scheduled_ns: u64,
    /// When the client actually sent it. `sent_ns − scheduled_ns` is time spent in our client.
    pub sent_ns: u64,
}

/// One level to run.
#[derive(Clone, Debug)]
pub enum Shape {
    Closed { streams: u32 },
    Open { rate_per_s: f64, arrivals: Arrivals, seed: u64 },
}

/// A finished request of a level: its tag, prompt and budget, and what the client observed.
#[derive(Debug)]
pub struct Finished {
    pub tag: ConcurrencyTag,
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

/// Runs one level: all `jobs`, closed loop over `streams` (job i on stream i mod N, each stream
/// in order) or open loop on the arrival schedule. Returns the requests in job order.
pub async fn run_level(cx: &LevelContext<'_>, kind: LoadKind, shape: &Shape, jobs: &[Job<'_>]) -> Vec<Finished> {
    let start = Instant::now();
    let offset = |at: Instant| nanos(at.saturating_duration_since(start));
    let tag = |i: usize, stream: u32, scheduled: Instant, sent: Instant| ConcurrencyTag {
        benchmark: kind,
        level: match shape {
            Shape::Closed { streams } => Some(*streams),
            Shape::Open { .. } => None,
        },
        rate_per_s: match shape {
            Shape::Closed { .. } => None,
            Shape::Open { rate_per_s, .. } => Some(*rate_per_s),
        },
        stream,
        request: i as u32,
        class_max_tokens: jobs[i].max_tokens,
        scheduled_ns: offset(scheduled),
        sent_ns: offset(sent),
    };
    let one = |i: usize| async move {
        let job = &jobs[i];
        let request = GenerationRequest { messages: &job.prompt.messages, max_tokens: job.max_tokens, sampling: cx.sampling, tools: None };
        client::generate(cx.http, cx.endpoint, &request, cx.limits).await
    };
    let mut finished: Vec<(usize, Finished)> = match *shape {
        Shape::Closed { streams } => {
            let streams = streams.max(1) as usize;
            let stream_runs = (0..streams).map(|s| async move {
                let mut done = Vec::new();
                let mut due = start;
                for i in (s..jobs.len()).step_by(streams) {
                    let observation = one(i).await;
                    let sent = observation.sent.unwrap_or(due);
                    done.push((i, Finished { tag: tag(i, s as u32, due, sent), prompt_id: jobs[i].prompt.id.clone(), max_tokens: jobs[i].max_tokens, observation }));
                    // The next request is due the moment the client has finished with this one.
                    due = Instant::now();
                }
                done
            });
            join_all(stream_runs).await.into_iter().flatten().collect()
        }
        Shape::Open { rate_per_s, arrivals, seed } => {
            let schedule = schedule::arrivals(arrivals, rate_per_s, jobs.len() as u32, seed);
            let requests = schedule.iter().enumerate().map(|(i, &at)| async move {
                let due = start + at;
                tokio::time::sleep_until(due).await;
                let observation = one(i).await;
                let sent = observation.sent.unwrap_or(due);
                (i, Finished { tag: tag(i, i as u32, due, sent), prompt_id: jobs[i].prompt.id.clone(), max_tokens: jobs[i].max_tokens, observation })
            });
            join_all(requests).await
        }
    };
    finished.sort_by_key(|(i, _)| *i);
    finished.into_iter().map(|(_, f)| f).collect()
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
