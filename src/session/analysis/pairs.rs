//! Paired sessions (`paired/<name>/session`): sides A and B replayed the same sessions pass by
//! pass, interleaved (A B, B A, …), so a pair of passes shares its drift. Per session, the ratio
//! B / A of effective tok/s and of wall time over the pairs whose two passes both ran in full,
//! and per turn the ratio of TTFT over the pairs where both sides measured that turn — each by
//! the one paired-ratio routine, [`paired::compare`].

use super::{effective_tok_s, wall_s};
use crate::analysis::Better;
use crate::paired::{self, PairedComparison, PairedValues};
use crate::record::{GenerationRecord, PairTag, SessionTag};

/// The measured turns of paired sessions: record, session tag, pair tag.
type Turn<'a> = (&'a GenerationRecord, &'a SessionTag, &'a PairTag);

fn paired_turns(records: &[GenerationRecord]) -> Vec<Turn<'_>> {
    records
        .iter()
        .filter(|r| !r.warmup)
        .filter_map(|r| Some((r, r.session.as_ref()?, r.pair.as_ref()?)))
        .collect()
}

/// The distinct (pair name, session id) of the paired sessions in `records`, in order of first
/// appearance.
pub fn keys(records: &[GenerationRecord]) -> Vec<(String, String)> {
    let mut keys: Vec<(String, String)> = Vec::new();
    for (_, s, p) in paired_turns(records) {
        if !keys.iter().any(|(n, id)| *n == p.name && *id == s.session) {
            keys.push((p.name.clone(), s.session.clone()));
        }
    }
    keys
}

/// One pair of passes: A's and B's turns, in turn order.
struct PassPair<'a> {
    a: Vec<&'a GenerationRecord>,
    b: Vec<&'a GenerationRecord>,
}

/// The pairs of passes of pair `name` on `session`, by run and pair index (a baseline may hold
/// several runs), and the groups of sides A and B.
fn pass_pairs<'a>(records: &'a [GenerationRecord], name: &str, session: &str) -> (Vec<PassPair<'a>>, [String; 2]) {
    let turns: Vec<Turn<'a>> = paired_turns(records)
        .into_iter()
        .filter(|(_, s, p)| p.name == name && s.session == session)
        .collect();
    let group = |side: &str| {
        turns
            .iter()
            .find(|(_, _, p)| p.side == side)
            .map_or_else(String::new, |(r, _, _)| r.group.clone())
    };
    let mut ids: Vec<(&str, u32)> = turns.iter().map(|(r, _, p)| (r.run.as_str(), p.index)).collect();
    ids.sort_unstable();
    ids.dedup();
    let side_of = |run: &str, index: u32, side: &str| {
        let mut of: Vec<(&'a GenerationRecord, u32)> = turns
            .iter()
            .filter(|(r, _, p)| r.run == run && p.index == index && p.side == side)
            .map(|(r, s, _)| (*r, s.turn))
            .collect();
        of.sort_by_key(|(_, k)| *k);
        of.into_iter().map(|(r, _)| r).collect()
    };
    let pairs = ids
        .into_iter()
        .map(|(run, index)| PassPair {
            a: side_of(run, index, "a"),
            b: side_of(run, index, "b"),
        })
        .collect();
    (pairs, [group("a"), group("b")])
}

/// The pairs whose two passes both ran every turn any pass ran, successfully: only these enter
/// the session figures (a pass cut on one side compares different work).
fn complete<'p, 'a>(pairs: &'p [PassPair<'a>]) -> Vec<&'p PassPair<'a>> {
    let turns = pairs.iter().map(|p| p.a.len().max(p.b.len())).max().unwrap_or(0);
    let full = |pass: &[&GenerationRecord]| pass.len() == turns && pass.iter().all(|t| t.ok);
    pairs.iter().filter(|p| full(&p.a) && full(&p.b)).collect()
}

/// Per complete pair of passes of pair `name` on `session`, effective tok/s of B over A (the
/// values the verdicts compare between runs).
pub fn effective_ratios(records: &[GenerationRecord], name: &str, session: &str) -> Vec<f64> {
    let (pairs, _) = pass_pairs(records, name, session);
    complete(&pairs)
        .into_iter()
        .filter_map(|p| Some(effective_tok_s(&p.b)? / effective_tok_s(&p.a)?))
        .collect()
}

/// Every paired session's ratios B / A: per session effective tok/s and wall time, per turn TTFT.
pub fn comparisons(records: &[GenerationRecord]) -> Vec<PairedComparison> {
    let mut out = Vec::new();
    for (name, session) in keys(records) {
        let (pairs, [a, b]) = pass_pairs(records, &name, &session);
        let category = format!("{}/{session}", crate::session::SESSION);
        let mut compare = |metric: &str, turn: Option<u32>, better: Better, values: Vec<(f64, f64)>| {
            let (xa, xb): (Vec<f64>, Vec<f64>) = values.into_iter().unzip();
            out.extend(paired::compare(&PairedValues {
                name: &name,
                a: &a,
                b: &b,
                category: &category,
                metric,
                turn,
                better,
                xa: &xa,
                xb: &xb,
            }));
        };
        let full = complete(&pairs);
        let per_pass = |f: fn(&[&GenerationRecord]) -> Option<f64>| -> Vec<(f64, f64)> {
            full.iter().filter_map(|p| f(&p.a).zip(f(&p.b))).collect()
        };
        compare("effective_tok_s", None, Better::Higher, per_pass(effective_tok_s));
        compare("wall_s", None, Better::Lower, per_pass(wall_s));
        let turns = pairs.iter().map(|p| p.a.len().max(p.b.len())).max().unwrap_or(0);
        for k in 0..turns {
            let ttft = |pass: &[&GenerationRecord]| pass.get(k).filter(|t| t.ok).and_then(|t| t.metrics.ttft_s);
            let values = pairs.iter().filter_map(|p| ttft(&p.a).zip(ttft(&p.b))).collect();
            compare("ttft_s", Some(k as u32), Better::Lower, values);
        }
    }
    out
}
