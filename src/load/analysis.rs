//! A load level's records → throughput, latency percentiles, fairness and per-class results.
//!
//! Everything is computed from the records alone (their [`LoadTag`]s and timestamps), so
//! `concurrency.json` can be rebuilt from `generations.jsonl` at any time.

use super::{LoadKind, LoadTag};
use crate::analysis::LEVEL;
use crate::record::GenerationRecord;
use crate::stats::{self, QuantileEstimate};
use crate::util::serde_name;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Version of the `concurrency.json` layout.
pub const CONCURRENCY_SCHEMA: u32 = 1;

/// `concurrency.json`: every load benchmark of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    pub schema: u32,
    pub run: String,
    pub benchmarks: Vec<LoadResult>,
}

/// One load benchmark (`group/concurrency` or `group/open_loop`), level by level.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadResult {
    pub group: String,
    pub benchmark: LoadKind,
    /// How this benchmark's steady-state window is chosen.
    pub window_definition: String,
    pub levels: Vec<LevelResult>,
}

/// One level: a number of closed-loop streams, or an open-loop arrival rate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LevelResult {
    pub level: Option<u32>,
    pub rate_per_s: Option<f64>,
    /// Measured requests (warm-ups excluded), successful ones, and failure reasons with counts.
    pub requests: usize,
    pub ok: usize,
    pub failures: BTreeMap<String, usize>,
    /// Where the completion counts came from (`usage`, `server_timings`, `events_estimate`).
    pub completion_sources: BTreeMap<String, usize>,
    /// The steady-state window; absent (with `window_note`) when the level never had one.
    pub window: Option<Window>,
    pub window_note: Option<String>,
    /// Tokens generated inside the window / its length, tokens per second.
    pub aggregate_rate: Option<f64>,
    /// Σ tokens of successful requests / (last end − first send), ramp-up and drain included.
    pub makespan_rate: Option<f64>,
    pub makespan_s: Option<f64>,
    /// Closed loop: aggregate rate / that of level 1.
    pub speedup: Option<f64>,
    /// Closed loop: speedup / level (1 = perfect scaling).
    pub scaling_efficiency: Option<f64>,
    /// Jain's index over per-request decode rates: 1 = every request got the same rate, 1/n = one got it all.
    pub fairness_jain: Option<f64>,
    /// Per-request decode rate, TTFT and end-to-end latency.
    pub decode_rate: Percentiles,
    pub ttft_s: Percentiles,
    pub e2e_s: Percentiles,
    /// Request sent → response headers.
    pub headers_s: Percentiles,
    /// TTFT minus the server's own prompt time (llama-server timings): time queued for a slot,
    /// plus HTTP and streaming overhead.
    pub ttft_minus_prefill_s: Percentiles,
    /// TCP connect of requests that opened a new connection (inside their TTFT).
    pub connect_s: Percentiles,
    /// Time a request waited in our client: sent − due (open loop: the schedule lag; closed
    /// loop: from the end of the stream's previous request).
    pub client_wait_s: Percentiles,
    pub classes: Vec<ClassResult>,
}

/// The steady-state window, seconds from the level's start.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub start_s: f64,
    pub end_s: f64,
    /// Tokens generated inside it: each successful request's completion count, split evenly over
    /// its token-bearing events, counting the events that arrived inside the window.
    pub tokens: f64,
}

/// p50, p95 and p99, each with a distribution-free 95 % interval where n allows.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub n: usize,
    pub p50: Option<QuantileEstimate>,
    pub p95: Option<QuantileEstimate>,
    pub p99: Option<QuantileEstimate>,
}

impl Percentiles {
    pub fn of(values: &[f64]) -> Percentiles {
        let q = |p| stats::quantile_ci(values, p, LEVEL);
        Percentiles {
            n: values.len(),
            p50: q(0.5),
            p95: q(0.95),
            p99: q(0.99),
        }
    }

    pub fn median(&self) -> Option<f64> {
        self.p50.as_ref().map(|q| q.point)
    }
}

/// One class of the workload mix within a level: do short requests starve behind long ones?
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassResult {
    pub max_tokens: u32,
    pub requests: usize,
    pub ok: usize,
    /// Median generated tokens (what was produced, not what was asked).
    pub completion_p50: Option<f64>,
    pub ttft_s: Percentiles,
    pub e2e_s: Percentiles,
    pub decode_rate: Percentiles,
}

const CLOSED_WINDOW: &str = "from the moment the last of the N streams sent its first request (all N in flight) until the first stream's last request ended (one stream out of work): ramp-up and drain excluded";
const OPEN_WINDOW: &str =
    "from the first to the last scheduled arrival (arrivals ongoing); requests still running after it are drain";

/// The load results of `records`; None when they hold no load generations.
pub fn report(run: &str, records: &[GenerationRecord]) -> Option<LoadReport> {
    let mut benchmarks: Vec<LoadResult> = Vec::new();
    let tagged: Vec<(&GenerationRecord, &LoadTag)> = records
        .iter()
        .filter(|r| !r.warmup)
        .filter_map(|r| Some((r, r.concurrency.as_ref()?)))
        .collect();
    for (r, tag) in &tagged {
        if !benchmarks
            .iter()
            .any(|b| b.group == r.group && b.benchmark == tag.benchmark)
        {
            let window_definition = match tag.benchmark {
                LoadKind::Concurrency => CLOSED_WINDOW,
                LoadKind::OpenLoop => OPEN_WINDOW,
                LoadKind::Prefill => "none: prefill requests run one at a time (see prefill.json)",
            };
            benchmarks.push(LoadResult {
                group: r.group.clone(),
                benchmark: tag.benchmark,
                window_definition: window_definition.into(),
                levels: Vec::new(),
            });
        }
    }
    if benchmarks.is_empty() {
        return None;
    }
    for b in &mut benchmarks {
        let mine: Vec<&(&GenerationRecord, &LoadTag)> = tagged
            .iter()
            .filter(|(r, t)| r.group == b.group && t.benchmark == b.benchmark)
            .collect();
        let mut keys: Vec<(Option<u32>, Option<f64>)> = Vec::new();
        for (_, t) in &mine {
            if !keys.contains(&(t.level, t.rate_per_s)) {
                keys.push((t.level, t.rate_per_s));
            }
        }
        for (level, rate) in keys {
            let at: Vec<(&GenerationRecord, &LoadTag)> = mine
                .iter()
                .filter(|(_, t)| t.level == level && t.rate_per_s == rate)
                .map(|&&x| x)
                .collect();
            b.levels.push(level_result(level, rate, &at));
        }
        let base = b
            .levels
            .iter()
            .find(|l| l.level == Some(1))
            .and_then(|l| l.aggregate_rate);
        for l in &mut b.levels {
            if let (Some(n), Some(base), Some(rate)) = (l.level, base, l.aggregate_rate) {
                l.speedup = Some(rate / base);
                l.scaling_efficiency = Some(rate / base / f64::from(n));
            }
        }
    }
    Some(LoadReport {
        schema: CONCURRENCY_SCHEMA,
        run: run.into(),
        benchmarks,
    })
}

/// Seconds from the level's start at which a request's client-side activity ended.
fn ended_s(r: &GenerationRecord, t: &LoadTag) -> f64 {
    let last = r.t.end_ns.or(r.t.last_token_ns).or(r.t.headers_ns).unwrap_or(0);
    (t.sent_ns + last) as f64 / 1e9
}

fn level_result(level: Option<u32>, rate_per_s: Option<f64>, at: &[(&GenerationRecord, &LoadTag)]) -> LevelResult {
    let ok: Vec<&(&GenerationRecord, &LoadTag)> = at.iter().filter(|(r, _)| r.ok).collect();
    let mut failures = BTreeMap::new();
    for (r, _) in at.iter().filter(|(r, _)| !r.ok) {
        *failures
            .entry(r.error.clone().unwrap_or_else(|| "unknown".into()))
            .or_insert(0) += 1;
    }
    let mut completion_sources = BTreeMap::new();
    for (r, _) in &ok {
        *completion_sources
            .entry(r.tokens.completion_source.map_or("none".into(), serde_name))
            .or_insert(0) += 1;
    }
    let (window, window_note) = match steady_window(level, at) {
        Ok((start_s, end_s)) => {
            let tokens = ok.iter().map(|(r, t)| tokens_between(r, t, start_s, end_s)).sum();
            (Some(Window { start_s, end_s, tokens }), None)
        }
        Err(note) => (None, Some(note)),
    };
    let aggregate_rate = window.as_ref().map(|w| w.tokens / (w.end_s - w.start_s));
    let first_sent = at.iter().map(|(_, t)| t.sent_ns as f64 / 1e9).reduce(f64::min);
    let last_end = at.iter().map(|(r, t)| ended_s(r, t)).reduce(f64::max);
    let makespan_s = first_sent.zip(last_end).map(|(a, b)| b - a).filter(|s| *s > 0.0);
    let produced: Option<u64> = ok.iter().map(|(r, _)| r.tokens.completion).sum();
    let makespan_rate = makespan_s
        .zip(produced)
        .filter(|_| !ok.is_empty())
        .map(|(s, n)| n as f64 / s);
    let metric = |get: fn(&GenerationRecord) -> Option<f64>, set: &[&(&GenerationRecord, &LoadTag)]| {
        Percentiles::of(&set.iter().filter_map(|(r, _)| get(r)).collect::<Vec<_>>())
    };
    let decode: Vec<f64> = ok.iter().filter_map(|(r, _)| r.metrics.decode_rate).collect();
    let all: Vec<&(&GenerationRecord, &LoadTag)> = at.iter().collect();
    let mut class_tokens: Vec<u32> = at.iter().map(|(_, t)| t.class_max_tokens).collect();
    class_tokens.sort_unstable();
    class_tokens.dedup();
    let classes = class_tokens
        .into_iter()
        .map(|max_tokens| {
            let of_class: Vec<&(&GenerationRecord, &LoadTag)> =
                at.iter().filter(|(_, t)| t.class_max_tokens == max_tokens).collect();
            let ok_class: Vec<&(&GenerationRecord, &LoadTag)> =
                of_class.iter().copied().filter(|(r, _)| r.ok).collect();
            let completions: Vec<f64> = ok_class
                .iter()
                .filter_map(|(r, _)| r.tokens.completion.map(|n| n as f64))
                .collect();
            ClassResult {
                max_tokens,
                requests: of_class.len(),
                ok: ok_class.len(),
                completion_p50: Percentiles::of(&completions).median(),
                ttft_s: metric(|r| r.metrics.ttft_s, &ok_class),
                e2e_s: metric(|r| r.metrics.e2e_s, &ok_class),
                decode_rate: metric(|r| r.metrics.decode_rate, &ok_class),
            }
        })
        .collect();
    LevelResult {
        level,
        rate_per_s,
        requests: at.len(),
        ok: ok.len(),
        failures,
        completion_sources,
        window,
        window_note,
        aggregate_rate,
        makespan_rate,
        makespan_s,
        speedup: None,
        scaling_efficiency: None,
        fairness_jain: jain(&decode),
        decode_rate: Percentiles::of(&decode),
        ttft_s: metric(|r| r.metrics.ttft_s, &ok),
        e2e_s: metric(|r| r.metrics.e2e_s, &ok),
        headers_s: metric(|r| r.t.headers_ns.map(|ns| ns as f64 / 1e9), &all),
        ttft_minus_prefill_s: metric(|r| r.server.as_ref()?.ttft_minus_prompt_ms.map(|ms| ms / 1e3), &ok),
        connect_s: metric(|r| r.t.connect_ns.map(|ns| ns as f64 / 1e9), &all),
        client_wait_s: Percentiles::of(
            &at.iter()
                .map(|(_, t)| t.sent_ns.saturating_sub(t.scheduled_ns) as f64 / 1e9)
                .collect::<Vec<_>>(),
        ),
        classes,
    }
}

/// The steady-state window (see `CLOSED_WINDOW`, `OPEN_WINDOW`), or why there is none.
fn steady_window(level: Option<u32>, at: &[(&GenerationRecord, &LoadTag)]) -> Result<(f64, f64), String> {
    let (start, end) = match level {
        Some(_) => {
            let mut streams: BTreeMap<u32, (f64, f64)> = BTreeMap::new();
            for (r, t) in at {
                let (first_sent, last_end) = streams.entry(t.stream).or_insert((f64::INFINITY, f64::NEG_INFINITY));
                *first_sent = first_sent.min(t.sent_ns as f64 / 1e9);
                *last_end = last_end.max(ended_s(r, t));
            }
            let start = streams.values().map(|s| s.0).reduce(f64::max);
            let end = streams.values().map(|s| s.1).reduce(f64::min);
            (start, end)
        }
        None => (
            at.iter().map(|(_, t)| t.scheduled_ns as f64 / 1e9).reduce(f64::min),
            at.iter().map(|(_, t)| t.scheduled_ns as f64 / 1e9).reduce(f64::max),
        ),
    };
    match (start, end) {
        (Some(start), Some(end)) if end > start => Ok((start, end)),
        (Some(_), Some(_)) => {
            Err("no steady state: the first stream (or arrival) ended before the last one started".into())
        }
        _ => Err("no requests".into()),
    }
}

/// A successful request's tokens generated within [start_s, end_s]: its completion count spread
/// evenly over its token events, counting the events that arrived in the window.
fn tokens_between(r: &GenerationRecord, t: &LoadTag, start_s: f64, end_s: f64) -> f64 {
    let (Some(n), Some(first_ns)) = (r.tokens.completion, r.t.first_token_ns) else {
        return 0.0;
    };
    let events = r.itl_us.len() + 1;
    let mut at_ns = t.sent_ns + first_ns;
    let mut inside = 0usize;
    for gap_us in std::iter::once(0).chain(r.itl_us.iter().copied()) {
        at_ns += gap_us * 1000;
        let at_s = at_ns as f64 / 1e9;
        inside += usize::from(at_s >= start_s && at_s <= end_s);
    }
    n as f64 * inside as f64 / events as f64
}

/// Jain's fairness index (Σx)² / (n·Σx²); None for no values or all zero.
pub fn jain(x: &[f64]) -> Option<f64> {
    let sum: f64 = x.iter().sum();
    let squares: f64 = x.iter().map(|v| v * v).sum();
    (squares > 0.0).then(|| sum * sum / (x.len() as f64 * squares))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jain_index_bounds() {
        assert_eq!(jain(&[5.0, 5.0, 5.0]), Some(1.0));
        assert_eq!(jain(&[4.0, 0.0, 0.0, 0.0]), Some(0.25));
        assert_eq!(jain(&[]), None);
    }
}
