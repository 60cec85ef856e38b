//! Per-turn, per-session and per-depth figures of the session workloads, as pure functions of
//! the records (`sessions.json`). Intervals are over the repeats: geometric means with Student-t
//! intervals on the logs, and paired t-intervals on log-ratios for cache on against off and for
//! paired sessions (quant A against B, [`pairs`]).

use crate::analysis::{Better, LEVEL};
use crate::compare::{Comparison, Method, Verdict};
use crate::paired::PairedComparison;
use crate::prompts::session::Mode;
use crate::record::{GenerationRecord, IdealSource, SessionTag};
use crate::stats::{self, Estimate, RatioTest};
use serde::{Deserialize, Serialize};

mod pairs;

/// Version of the `sessions.json` layout (2: `paired_ab`).
pub const SESSIONS_SCHEMA: u32 = 2;
/// Reported cached tokens may differ from the ideal by this many before a turn is flagged: a
/// server re-reads the prompt's last token (llama-server always evaluates at least one), and a
/// template may render the turn boundary differently from the tokenizer call.
pub const CACHE_TOLERANCE_TOKENS: f64 = 4.0;

/// Something planned that did not run in full, and why: a session cut at the context window or
/// by a failed turn, a depth beyond the window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cut {
    pub group: String,
    /// `session` or `depth`.
    pub workload: String,
    /// The session id, or the depth in tokens.
    pub what: String,
    /// The first turn (from 0) not measured; absent for a depth.
    pub turn: Option<u32>,
    pub reason: String,
}

/// `sessions.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionReport {
    pub schema: u32,
    pub run: String,
    pub sessions: Vec<SessionRow>,
    pub turns: Vec<TurnRow>,
    pub paired: Vec<PairedTurn>,
    /// Paired sessions (`paired/<name>/session`): ratios B / A per session (effective tok/s,
    /// wall time) and per turn (TTFT), over pairs of passes; see [`pairs`].
    #[serde(default)]
    pub paired_ab: Vec<PairedComparison>,
    pub depths: Vec<DepthRow>,
    pub cuts: Vec<Cut>,
}

/// One group × session × cache state, over its complete repeats.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionRow {
    pub group: String,
    pub session: String,
    pub mode: Mode,
    pub prefix_cache: bool,
    /// Repeats run, and those whose every measured turn succeeded (only these enter the figures).
    pub repeats: usize,
    pub complete: usize,
    /// Turns measured per complete repeat (fewer than the session has when it was cut).
    pub turns: usize,
    /// famstack's effective tok/s: Σ output tokens / Σ (TTFT + generation time) over the turns.
    pub effective_tok_s: Option<Estimate>,
    /// Σ E2E over the turns, seconds.
    pub wall_s: Option<Estimate>,
    /// Σ TTFT / Σ E2E.
    pub prefill_share: Option<Estimate>,
    /// The last turn's prompt plus its output, tokens (server counts), mean over repeats.
    pub final_context: Option<f64>,
    /// Σ reported cached / Σ ideal over the turns where both are known; None when the server
    /// reports no cached counts.
    pub cache_efficiency: Option<f64>,
    pub ideal_source: Option<IdealSource>,
}

/// One group × session × cache state × turn.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TurnRow {
    pub group: String,
    pub session: String,
    pub prefix_cache: bool,
    /// From 0.
    pub turn: u32,
    pub ok: usize,
    pub requests: usize,
    /// Mean prompt tokens the server reported.
    pub prompt_tokens: Option<f64>,
    /// Mean cached prompt tokens the server reported; None: "not reported" (never 0).
    pub cached_tokens: Option<f64>,
    /// Samples that reported a cached count.
    pub cached_reported: usize,
    /// Mean ideal reusable prefix, and where it came from.
    pub ideal_reusable: Option<f64>,
    pub ideal_source: Option<IdealSource>,
    /// The mean |cached − ideal| over the samples that have both is beyond [`CACHE_TOLERANCE_TOKENS`].
    pub cache_mismatch: bool,
    pub ttft_s: Option<Estimate>,
    /// Uncached prompt tokens / TTFT.
    pub prefill_rate: Option<Estimate>,
    pub decode_rate: Option<Estimate>,
    pub e2e_s: Option<Estimate>,
    /// Time to the first tool-call delta, over the samples that had one.
    pub first_tool_call_s: Option<Estimate>,
    pub tool_call_samples: usize,
}

/// TTFT with the prefix cache off against on, per turn: the ratio off / on over paired repeats.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairedTurn {
    pub group: String,
    pub session: String,
    pub turn: u32,
    pub pairs: usize,
    pub ttft_off_over_on: Option<RatioTest>,
}

/// One group × depth.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DepthRow {
    pub group: String,
    pub depth: u32,
    pub ok: usize,
    pub requests: usize,
    /// Mean prompt and cached tokens of the follow-up (server counts).
    pub prompt_tokens: Option<f64>,
    pub cached_tokens: Option<f64>,
    pub ttft_s: Option<Estimate>,
    pub decode_rate: Option<Estimate>,
}

/// Geometric mean with a t-interval on the logs (times and rates are positive and their spread
/// multiplicative, so the interval stays positive even for R = 2); the arithmetic mean where a
/// value is not positive; a single value is a point without an interval; none is None.
pub fn estimate(values: &[f64]) -> Option<Estimate> {
    match values {
        [] => None,
        [one] => Some(Estimate {
            point: *one,
            interval: None,
        }),
        _ => stats::geometric_mean_ci(values, LEVEL).or_else(|| stats::mean_ci(values, LEVEL)),
    }
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

fn secs(ns: Option<u64>) -> Option<f64> {
    ns.map(|n| n as f64 / 1e9)
}

/// famstack's effective tok/s of one pass through a session: Σ output tokens / Σ (TTFT +
/// generation time), that is Σ E2E, over its turns.
pub fn effective_tok_s(pass: &[&GenerationRecord]) -> Option<f64> {
    Some(
        pass.iter()
            .map(|t| t.tokens.completion.map(|n| n as f64))
            .sum::<Option<f64>>()?
            / wall_s(pass)?,
    )
}

/// Σ E2E over a pass's turns, seconds.
pub fn wall_s(pass: &[&GenerationRecord]) -> Option<f64> {
    pass.iter().map(|t| t.metrics.e2e_s).sum()
}

/// The session turns of a group's own session workload (paired sessions are analysed apart).
fn group_turns(records: &[GenerationRecord]) -> Vec<(&GenerationRecord, &SessionTag)> {
    records
        .iter()
        .filter(|r| r.pair.is_none())
        .filter_map(|r| Some((r, r.session.as_ref()?)))
        .collect()
}

/// The figures of every session and depth record; None when there are none and nothing was cut.
pub fn report(run: &str, records: &[GenerationRecord], cuts: &[Cut]) -> Option<SessionReport> {
    let turns_of = group_turns(records);
    let mut keys: Vec<(&str, &str, bool)> = Vec::new();
    for (r, t) in &turns_of {
        if !keys.contains(&(r.group.as_str(), t.session.as_str(), t.prefix_cache)) {
            keys.push((&r.group, &t.session, t.prefix_cache));
        }
    }
    let mut report = SessionReport {
        schema: SESSIONS_SCHEMA,
        run: run.into(),
        sessions: Vec::new(),
        turns: Vec::new(),
        paired: Vec::new(),
        paired_ab: pairs::comparisons(records),
        depths: depth_rows(records),
        cuts: cuts.to_vec(),
    };
    for &(group, session, cache) in &keys {
        let of: Vec<(&GenerationRecord, &SessionTag)> = turns_of
            .iter()
            .copied()
            .filter(|(r, t)| r.group == group && t.session == session && t.prefix_cache == cache)
            .collect();
        report.sessions.push(session_row(group, session, cache, &of));
        let last = of.iter().map(|(_, t)| t.turn).max().unwrap_or(0);
        report
            .turns
            .extend((0..=last).map(|k| turn_row(group, session, cache, k, &of)));
        if !cache {
            let on: Vec<(&GenerationRecord, &SessionTag)> = turns_of
                .iter()
                .copied()
                .filter(|(r, t)| r.group == group && t.session == session && t.prefix_cache)
                .collect();
            report
                .paired
                .extend((0..=last).map(|k| paired_turn(group, session, k, &on, &of)));
        }
    }
    let any = !report.sessions.is_empty() || !report.paired_ab.is_empty() || !report.depths.is_empty();
    (any || !report.cuts.is_empty()).then_some(report)
}

/// Each repeat's turns, in turn order (a repeat is one run's: a baseline may hold several runs).
fn repeats<'a>(of: &[(&'a GenerationRecord, &'a SessionTag)]) -> Vec<Vec<&'a GenerationRecord>> {
    let mut ids: Vec<(&str, u32)> = of.iter().map(|(r, t)| (r.run.as_str(), t.repeat)).collect();
    ids.sort_unstable();
    ids.dedup();
    ids.iter()
        .map(|&(run, rep)| {
            let mut turns: Vec<(&GenerationRecord, u32)> = of
                .iter()
                .filter(|(r, t)| r.run == run && t.repeat == rep)
                .map(|(r, t)| (*r, t.turn))
                .collect();
            turns.sort_by_key(|(_, k)| *k);
            turns.into_iter().map(|(r, _)| r).collect()
        })
        .collect()
}

/// Per-session figures over the complete repeats: those with every turn measured ok, as many
/// turns as the most any repeat measured.
pub fn session_row(group: &str, session: &str, cache: bool, of: &[(&GenerationRecord, &SessionTag)]) -> SessionRow {
    let all = repeats(of);
    let turns = all.iter().map(Vec::len).max().unwrap_or(0);
    let complete: Vec<&Vec<&GenerationRecord>> = all
        .iter()
        .filter(|r| r.len() == turns && r.iter().all(|t| t.ok))
        .collect();
    let per = |f: &dyn Fn(&[&GenerationRecord]) -> Option<f64>| -> Vec<f64> {
        complete.iter().filter_map(|r| f(r)).collect()
    };
    let ttft = |r: &[&GenerationRecord]| r.iter().map(|t| t.metrics.ttft_s).sum::<Option<f64>>();
    let share = per(&|r| Some(ttft(r)? / wall_s(r)?));
    let context = per(&|r| {
        r.last()
            .and_then(|t| Some((t.tokens.prompt? + t.tokens.completion?) as f64))
    });
    let (mut cached, mut ideal) = (0.0, 0.0);
    let mut source = None;
    for (r, t) in of.iter().filter(|(r, _)| r.ok) {
        if let (Some(c), Some(i)) = (r.tokens.prompt_cached, t.ideal_reusable) {
            cached += c as f64;
            ideal += i as f64;
            source = source.or(t.ideal_source);
        }
    }
    SessionRow {
        group: group.into(),
        session: session.into(),
        mode: of.first().map_or_else(Mode::default, |(_, t)| t.mode),
        prefix_cache: cache,
        repeats: all.len(),
        complete: complete.len(),
        turns,
        effective_tok_s: estimate(&per(&effective_tok_s)),
        wall_s: estimate(&per(&wall_s)),
        prefill_share: estimate(&share),
        final_context: mean(&context),
        cache_efficiency: (ideal > 0.0).then(|| cached / ideal),
        ideal_source: source,
    }
}

/// Per-turn figures over the repeats' successful samples of turn `k`.
pub fn turn_row(group: &str, session: &str, cache: bool, k: u32, of: &[(&GenerationRecord, &SessionTag)]) -> TurnRow {
    let at: Vec<(&GenerationRecord, &SessionTag)> = of.iter().copied().filter(|(_, t)| t.turn == k).collect();
    let ok: Vec<&GenerationRecord> = at.iter().filter(|(r, _)| r.ok).map(|(r, _)| *r).collect();
    let values =
        |f: &dyn Fn(&GenerationRecord) -> Option<f64>| -> Vec<f64> { ok.iter().filter_map(|r| f(r)).collect() };
    let cached = values(&|r| r.tokens.prompt_cached.map(|c| c as f64));
    let ideal: Vec<f64> = at
        .iter()
        .filter(|(r, _)| r.ok)
        .filter_map(|(_, t)| t.ideal_reusable.map(|i| i as f64))
        .collect();
    let tool = values(&|r| secs(r.t.first_tool_call_ns));
    let (cached_mean, ideal_mean) = (mean(&cached), mean(&ideal));
    // Compared sample by sample: a sample with no ideal (the first request) must not skew it.
    let gaps: Vec<f64> = at
        .iter()
        .filter(|(r, _)| r.ok)
        .filter_map(|(r, t)| Some((r.tokens.prompt_cached? as f64 - t.ideal_reusable? as f64).abs()))
        .collect();
    TurnRow {
        group: group.into(),
        session: session.into(),
        prefix_cache: cache,
        turn: k,
        ok: ok.len(),
        requests: at.len(),
        prompt_tokens: mean(&values(&|r| r.tokens.prompt.map(|p| p as f64))),
        cached_tokens: cached_mean,
        cached_reported: cached.len(),
        ideal_reusable: ideal_mean,
        ideal_source: at.iter().find_map(|(_, t)| t.ideal_source),
        cache_mismatch: cache && mean(&gaps).is_some_and(|g| g > CACHE_TOLERANCE_TOKENS),
        ttft_s: estimate(&values(&|r| r.metrics.ttft_s)),
        prefill_rate: estimate(&values(&|r| r.metrics.prefill_rate)),
        decode_rate: estimate(&values(&|r| r.metrics.decode_rate)),
        e2e_s: estimate(&values(&|r| r.metrics.e2e_s)),
        tool_call_samples: tool.len(),
        first_tool_call_s: estimate(&tool),
    }
}

/// Turn `k`'s TTFT with the cache off over on, paired by repeat.
fn paired_turn(
    group: &str,
    session: &str,
    k: u32,
    on: &[(&GenerationRecord, &SessionTag)],
    off: &[(&GenerationRecord, &SessionTag)],
) -> PairedTurn {
    let ttft = |side: &[(&GenerationRecord, &SessionTag)], rep: u32| {
        side.iter()
            .find(|(r, t)| t.turn == k && t.repeat == rep && r.ok)
            .and_then(|(r, _)| r.metrics.ttft_s)
    };
    let pairs: Vec<(f64, f64)> = off
        .iter()
        .filter(|(_, t)| t.turn == k)
        .filter_map(|(_, t)| ttft(on, t.repeat).zip(ttft(off, t.repeat)))
        .collect();
    let (a, b): (Vec<f64>, Vec<f64>) = pairs.iter().copied().unzip();
    PairedTurn {
        group: group.into(),
        session: session.into(),
        turn: k,
        pairs: pairs.len(),
        ttft_off_over_on: stats::paired_log_ratio(&a, &b, LEVEL),
    }
}

/// Per group and depth, the measured follow-ups (priming requests left out).
pub fn depth_rows(records: &[GenerationRecord]) -> Vec<DepthRow> {
    let measured: Vec<(&GenerationRecord, u32)> = records
        .iter()
        .filter_map(|r| r.depth.as_ref().filter(|d| !d.setup).map(|d| (r, d.depth)))
        .collect();
    let mut rows: Vec<DepthRow> = Vec::new();
    for (r, depth) in &measured {
        if rows.iter().any(|row| row.group == r.group && row.depth == *depth) {
            continue;
        }
        let of: Vec<&GenerationRecord> = measured
            .iter()
            .filter(|(o, d)| o.group == r.group && d == depth)
            .map(|(o, _)| *o)
            .collect();
        let ok: Vec<&GenerationRecord> = of.iter().copied().filter(|o| o.ok).collect();
        let values =
            |f: &dyn Fn(&GenerationRecord) -> Option<f64>| -> Vec<f64> { ok.iter().filter_map(|o| f(o)).collect() };
        rows.push(DepthRow {
            group: r.group.clone(),
            depth: *depth,
            ok: ok.len(),
            requests: of.len(),
            prompt_tokens: mean(&values(&|o| o.tokens.prompt.map(|p| p as f64))),
            cached_tokens: mean(&values(&|o| o.tokens.prompt_cached.map(|c| c as f64))),
            ttft_s: estimate(&values(&|o| o.metrics.ttft_s)),
            decode_rate: estimate(&values(&|o| o.metrics.decode_rate)),
        });
    }
    rows
}

/// An estimate as `point [lower, upper]`, scaled; "–" when absent.
pub fn estimate_text(e: Option<&Estimate>, scale: f64, digits: usize) -> String {
    match e {
        None => "–".into(),
        Some(Estimate { point, interval: None }) => format!("{:.digits$}", point * scale),
        Some(Estimate {
            point,
            interval: Some(i),
        }) => format!(
            "{:.digits$} [{:.digits$}, {:.digits$}]",
            point * scale,
            i.lower * scale,
            i.upper * scale
        ),
    }
}

/// Verdict rows against a baseline (decided with every other comparison of the run): per group
/// and session, effective tok/s over repeats; per group and depth, follow-up TTFT and decode
/// rate over repeats. Welch t on the logs, as for one baseline run of an ordinary benchmark.
pub fn verdict_rows(baseline: &[GenerationRecord], candidate: &[GenerationRecord]) -> Vec<Comparison> {
    let mut rows = Vec::new();
    let sessions = |records: &[GenerationRecord], group: &str, session: &str| -> Vec<f64> {
        let of: Vec<(&GenerationRecord, &SessionTag)> = group_turns(records)
            .into_iter()
            .filter(|(r, t)| r.group == group && t.session == session && t.prefix_cache)
            .collect();
        let all = repeats(&of);
        let turns = all.iter().map(Vec::len).max().unwrap_or(0);
        all.iter()
            .filter(|r| r.len() == turns && r.iter().all(|t| t.ok))
            .filter_map(|r| effective_tok_s(r))
            .collect()
    };
    let mut keys: Vec<(String, String)> = Vec::new();
    for (r, t) in group_turns(candidate).into_iter().filter(|(_, t)| t.prefix_cache) {
        if !keys.iter().any(|(g, s)| *g == r.group && *s == t.session) {
            keys.push((r.group.clone(), t.session.clone()));
        }
    }
    for (group, session) in &keys {
        let category = format!("{}/{session}", super::SESSION);
        rows.extend(verdict_row(
            group,
            &category,
            "effective_tok_s",
            Better::Higher,
            &sessions(baseline, group, session),
            &sessions(candidate, group, session),
        ));
    }
    let depth = |records: &[GenerationRecord],
                 group: &str,
                 depth: u32,
                 metric: &dyn Fn(&GenerationRecord) -> Option<f64>|
     -> Vec<f64> {
        records
            .iter()
            .filter(|r| r.ok && r.group == group && r.depth.as_ref().is_some_and(|d| !d.setup && d.depth == depth))
            .filter_map(metric)
            .collect()
    };
    for (name, session) in pairs::keys(candidate) {
        // The ratio B / A of each pair of passes, baseline runs against candidate.
        let ratios = |records| pairs::effective_ratios(records, &name, &session);
        rows.extend(verdict_row(
            &format!("paired/{name}"),
            &format!("{}/{session}", super::SESSION),
            "effective_tok_s_b_over_a",
            Better::Higher,
            &ratios(baseline),
            &ratios(candidate),
        ));
    }
    for row in depth_rows(candidate) {
        let category = format!("{}/{}", super::DEPTH, row.depth);
        let (ttft, decode) = (
            |r: &GenerationRecord| r.metrics.ttft_s,
            |r: &GenerationRecord| r.metrics.decode_rate,
        );
        rows.extend(verdict_row(
            &row.group,
            &category,
            "ttft_s",
            Better::Lower,
            &depth(baseline, &row.group, row.depth, &ttft),
            &depth(candidate, &row.group, row.depth, &ttft),
        ));
        rows.extend(verdict_row(
            &row.group,
            &category,
            "decode_rate",
            Better::Higher,
            &depth(baseline, &row.group, row.depth, &decode),
            &depth(candidate, &row.group, row.depth, &decode),
        ));
    }
    rows
}

/// One undecided comparison of `metric` over repeats; None when either side has too few values.
fn verdict_row(
    group: &str,
    category: &str,
    metric: &str,
    better: Better,
    base: &[f64],
    cand: &[f64],
) -> Option<Comparison> {
    let test = stats::welch_log_ratio(base, cand, LEVEL)?;
    Some(Comparison {
        group: group.into(),
        category: category.into(),
        metric: metric.into(),
        better,
        n_baseline: base.len(),
        n_candidate: cand.len(),
        method: Method::WithinRun,
        baseline_runs: 1,
        candidate_runs: 1,
        ratio: test.ratio,
        interval: test.interval,
        welch_p: test.p_value,
        holm_p: test.p_value,
        mann_whitney_p: stats::mann_whitney(base, cand).map(|(_, p)| p),
        cliffs_delta: stats::cliffs_delta(base, cand),
        verdict: Verdict::Inconclusive,
        baseline_value: stats::geometric_mean(base),
        candidate_value: stats::geometric_mean(cand),
    })
}

#[cfg(test)]
mod tests;
