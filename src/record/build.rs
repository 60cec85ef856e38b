//! Turns what the client observed into a [`GenerationRecord`]: counts with provenance, metrics,
//! the server's own account and how far it is from ours.

use super::counts;
use super::metrics::{self, MetricInputs};
use super::{Flag, GenerationRecord, Metrics, PairTag, ServerReport, Timestamps, RECORD_SCHEMA};
use crate::client::types::Observation;
use crate::dialect::Dialect;
use crate::util::{micros, nanos};

/// Our decode rate and the server's may differ by this much before the record is flagged.
pub const SERVER_DECODE_TOLERANCE: f64 = 0.05;

/// Who and what a generation was for.
#[derive(Clone, Debug)]
pub struct SampleContext<'a> {
    pub run: &'a str,
    pub model: &'a str,
    pub quant: &'a str,
    pub category: &'a str,
    pub prompt_id: &'a str,
    pub sample: u32,
    pub warmup: bool,
    pub started_at: String,
    pub max_tokens: u32,
    pub pair: Option<PairTag>,
}

pub fn to_record(ctx: &SampleContext<'_>, obs: Observation, dialect: &dyn Dialect) -> GenerationRecord {
    let counts = counts::resolve(
        obs.usage.as_ref(),
        obs.timings.as_ref(),
        obs.events,
        obs.finish_reason.as_deref() == Some("stop"),
    );
    let mut flags = counts::flags(&counts);
    let mut error = obs.error.clone();
    if error.is_none() && counts.completion == Some(0) {
        error = Some("the server reported 0 generated tokens".into());
    }
    let ok = error.is_none();
    let gaps_us: Vec<u64> = obs.token_times.windows(2).map(|w| micros(w[1] - w[0])).collect();
    let t = Timestamps {
        connect_ns: obs.connect.map(nanos),
        headers_ns: obs.headers.map(nanos),
        first_token_ns: obs.token_times.first().copied().map(nanos),
        first_tool_call_ns: obs.first_tool_call.map(nanos),
        last_token_ns: obs.token_times.last().copied().map(nanos),
        end_ns: obs.end.map(nanos),
    };
    let metrics = if ok {
        metrics::derive(&MetricInputs {
            first_token: obs.token_times.first().copied(),
            last_token: obs.token_times.last().copied(),
            end: obs.end,
            completion: counts.completion,
            token_events: counts.token_events,
            after_last_event: counts.after_last_event,
            prompt_processed: counts::prompt_processed(&counts),
            gaps_us: &gaps_us,
        })
    } else {
        Metrics::default()
    };
    let early_stop = ok && counts.completion.is_some_and(|n| n < u64::from(ctx.max_tokens));
    if early_stop {
        flags.push(Flag::EarlyStop);
    }
    if ok && !obs.saw_done {
        flags.push(Flag::NoDoneMarker);
    }
    if ok && counts.completion.is_some_and(|n| n > u64::from(ctx.max_tokens)) {
        flags.push(Flag::OverMaxTokens);
    }
    if ok && dialect.options().fixed_length && counts.completion != Some(u64::from(ctx.max_tokens)) {
        flags.push(Flag::LengthMismatch);
    }
    let server = dialect
        .server_report(&obs)
        .map(|report| cross_check(report, &metrics, counts.completion));
    if ok && server.as_ref().is_some_and(server_disagrees) {
        flags.push(Flag::ServerDisagrees);
    }
    flags.sort();
    GenerationRecord {
        schema: RECORD_SCHEMA,
        run: ctx.run.to_owned(),
        group: format!("{}/{}", ctx.model, ctx.quant),
        model: ctx.model.to_owned(),
        quant: ctx.quant.to_owned(),
        category: ctx.category.to_owned(),
        prompt_id: ctx.prompt_id.to_owned(),
        sample: ctx.sample,
        warmup: ctx.warmup,
        started_at: ctx.started_at.clone(),
        max_tokens: ctx.max_tokens,
        ok,
        error,
        http_status: obs.http_status,
        t,
        tokens: counts,
        metrics,
        itl_us: gaps_us,
        finish_reason: obs.finish_reason,
        early_stop,
        server,
        flags,
        output: obs.output,
        pair: ctx.pair.clone(),
        quality: None,
        concurrency: None,
        prefill: None,
        session: None,
        depth: None,
    }
}

/// Cross-checks the server's account against itself and our clock.
///
/// Like with like: our decode rate counts token intervals (see `metrics`), so the rate of the
/// server's timings is (predicted_n − 1) / predicted_ms — llama-server's `predicted_ms` starts
/// when the first token is sampled from the prompt batch. The rate a server reports to its users
/// (`predicted_per_second`, LM Studio's `tokens_per_second`) is checked too, against its timings
/// and against ours (builds differ on N or N − 1, so the nearer of the two): a reported number
/// that its own timings do not give is flagged like any other disagreement.
fn cross_check(mut report: ServerReport, ours: &Metrics, completion: Option<u64>) -> ServerReport {
    let timings = match (report.predicted_n, report.predicted_ms) {
        (Some(n), Some(ms)) if n >= 2 && ms > 0.0 => Some((n, ms / 1000.0)),
        _ => None,
    };
    report.timings_decode_rate = timings.map(|(n, s)| (n - 1) as f64 / s);
    let rel = |a: f64, b: f64| (a - b) / b;
    report.completion_diff = match (completion, report.predicted_n) {
        (Some(ours), Some(server)) => i64::try_from(ours)
            .ok()
            .zip(i64::try_from(server).ok())
            .map(|(a, b)| a - b),
        _ => None,
    };
    report.decode_rate_rel_diff = ours
        .decode_rate
        .zip(report.timings_decode_rate.or(report.decode_rate))
        .map(|(o, s)| rel(o, s));
    // Builds differ on counting N or N − 1 tokens over the decode time: the nearer of the two.
    let nearer = |reported: f64, intervals: f64, n: u64| {
        let (fewer, all) = (
            rel(reported, intervals),
            rel(reported, intervals * n as f64 / (n - 1).max(1) as f64),
        );
        if fewer.abs() <= all.abs() {
            fewer
        } else {
            all
        }
    };
    report.reported_vs_timings_rel_diff = report
        .decode_rate
        .zip(timings)
        .map(|(reported, (n, s))| nearer(reported, (n - 1) as f64 / s, n));
    report.reported_vs_ours_rel_diff = report
        .decode_rate
        .zip(ours.decode_rate)
        .map(|(reported, o)| nearer(reported, o, completion.unwrap_or(0).max(2)));
    report.ttft_minus_prompt_ms = match (ours.ttft_s, report.prompt_ms) {
        (Some(ttft), Some(prompt_ms)) => Some(ttft * 1000.0 - prompt_ms),
        _ => None,
    };
    report
}

/// Whether the server's account disagrees with itself or with ours beyond the tolerance.
fn server_disagrees(report: &ServerReport) -> bool {
    let rates = [
        report.decode_rate_rel_diff,
        report.reported_vs_timings_rel_diff,
        report.reported_vs_ours_rel_diff,
    ];
    rates.iter().flatten().any(|d| d.abs() > SERVER_DECODE_TOLERANCE) || report.completion_diff.is_some_and(|d| d != 0)
}
