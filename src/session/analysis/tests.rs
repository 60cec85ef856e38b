//! Unit tests of `analysis`.

use super::*;

/// A successful turn with the given counts and times (seconds).
fn turn(
    repeat: u32,
    k: u32,
    completion: u64,
    ttft: f64,
    e2e: f64,
    cached: Option<u64>,
    ideal: Option<u64>,
) -> GenerationRecord {
    let mut r: GenerationRecord = serde_json::from_str(
        include_str!("../../../fixtures/runs/reference-1-thread/generations.jsonl")
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    (r.ok, r.group) = (true, "m/q".into());
    r.tokens.completion = Some(completion);
    r.tokens.prompt = Some(1000 * u64::from(k + 1));
    r.tokens.prompt_cached = cached;
    (r.metrics.ttft_s, r.metrics.e2e_s) = (Some(ttft), Some(e2e));
    let ideal_source = ideal.map(|_| IdealSource::ServerTokenizer);
    r.session = Some(SessionTag {
        session: "s".into(),
        mode: Mode::Replay,
        repeat,
        turn: k,
        prefix_cache: true,
        prompt_tokens_tokenized: None,
        ideal_reusable: ideal,
        ideal_source,
    });
    r
}

#[test]
fn effective_rate_is_output_over_time_per_repeat_and_incomplete_repeats_are_left_out() {
    let mut records = vec![
        turn(0, 0, 10, 1.0, 2.0, Some(0), None),
        turn(0, 1, 30, 0.5, 2.0, Some(998), Some(1000)),
        turn(1, 0, 20, 1.0, 3.0, Some(0), None),
        turn(1, 1, 20, 0.5, 2.0, Some(1000), Some(1000)),
        turn(2, 0, 20, 1.0, 3.0, Some(0), None),
    ];
    let mut failed = turn(2, 1, 20, 0.5, 2.0, None, Some(1000));
    failed.ok = false;
    records.push(failed);
    let report = report("r", &records, &[]).unwrap();
    let s = &report.sessions[0];
    assert_eq!((s.repeats, s.complete, s.turns), (3, 2, 2));
    // Repeat 0: 40 tokens / 4 s = 10; repeat 1: 40 / 5 = 8; geometric mean √80.
    assert!((s.effective_tok_s.unwrap().point - 80f64.sqrt()).abs() < 1e-9);
    assert!((s.prefill_share.unwrap().point - (1.5 / 4.0 * 1.5 / 5.0f64).sqrt()).abs() < 1e-9);
    assert!((s.cache_efficiency.unwrap() - 1998.0 / 2000.0).abs() < 1e-9);
    assert_eq!(
        s.final_context,
        Some((2030.0 + 2020.0) / 2.0),
        "last prompt + output, mean over the complete repeats"
    );
    let second = &report.turns[1];
    assert_eq!((second.ok, second.requests, second.cached_reported), (2, 3, 2));
    assert!(
        !second.cache_mismatch,
        "a mean 1 token from the ideal is within the tolerance"
    );
}

#[test]
fn verdicts_compare_effective_rates_over_repeats() {
    let session = |e2e: [f64; 3]| -> Vec<GenerationRecord> {
        e2e.iter()
            .enumerate()
            .map(|(rep, &t)| turn(rep as u32, 0, 20, 0.5, t, None, None))
            .collect()
    };
    let (baseline, slower) = (session([2.0, 2.1, 1.9]), session([4.0, 4.2, 3.8]));
    let rows = verdict_rows(&baseline, &slower);
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(
        (row.category.as_str(), row.metric.as_str(), row.better),
        ("session/s", "effective_tok_s", Better::Higher)
    );
    assert!((row.ratio - 0.5).abs() < 0.01 && row.interval.upper < 1.0, "{row:?}");
    let decided = crate::compare::decide(rows, 0.03);
    assert_eq!(decided[0].verdict, Verdict::Regressed);
}

#[test]
fn cached_counts_far_from_the_ideal_are_flagged_and_missing_ones_are_not_zero() {
    let records = [
        turn(0, 1, 10, 0.1, 1.0, Some(500), Some(1000)),
        turn(1, 1, 10, 0.1, 1.0, Some(500), Some(1000)),
    ];
    let of: Vec<(&GenerationRecord, &SessionTag)> = records.iter().map(|r| (r, r.session.as_ref().unwrap())).collect();
    assert!(turn_row("m/q", "s", true, 1, &of).cache_mismatch);
    let silent = [turn(0, 1, 10, 0.1, 1.0, None, Some(1000))];
    let of: Vec<(&GenerationRecord, &SessionTag)> = silent.iter().map(|r| (r, r.session.as_ref().unwrap())).collect();
    let row = turn_row("m/q", "s", true, 1, &of);
    assert_eq!(
        (row.cached_tokens, row.cached_reported, row.cache_mismatch),
        (None, 0, false)
    );
    assert_eq!(
        estimate(&[2.0]),
        Some(Estimate {
            point: 2.0,
            interval: None
        })
    );
    assert_eq!(estimate(&[]), None);
}

/// A turn of paired session `p`, pair `index`, on `side` (group `m/<side>`), in run `run`.
fn paired_turn(run: &str, side: &str, index: u32, k: u32, ttft: f64, e2e: f64) -> GenerationRecord {
    let mut r = turn(index, k, 10, ttft, e2e, None, None);
    (r.run, r.group) = (run.into(), format!("m/{side}"));
    r.pair = Some(crate::record::PairTag {
        name: "p".into(),
        index,
        side: side.into(),
    });
    r
}

#[test]
fn paired_sessions_ratio_b_over_a_per_pair_and_leave_cut_passes_out_of_session_figures() {
    // B twice as slow in pairs 0 and 2, three times in pair 1; pair 2's B pass fails turn 2.
    let slow = [2.0, 3.0, 2.0];
    let mut records = Vec::new();
    for (i, &f) in slow.iter().enumerate() {
        for k in 0..2 {
            records.push(paired_turn("r", "a", i as u32, k, 0.1, 1.0));
            records.push(paired_turn("r", "b", i as u32, k, 0.1 * f, f));
        }
    }
    records.last_mut().unwrap().ok = false;
    let report = report("r", &records, &[]).unwrap();
    assert!(
        report.sessions.is_empty() && report.turns.is_empty(),
        "not a group's own session"
    );
    let find = |metric: &str, turn: Option<u32>| {
        report
            .paired_ab
            .iter()
            .find(|p| p.metric == metric && p.turn == turn)
            .unwrap()
    };
    let wall = find("wall_s", None);
    assert_eq!(
        (wall.a.as_str(), wall.b.as_str(), wall.category.as_str()),
        ("m/a", "m/b", "session/s")
    );
    assert_eq!(wall.n_pairs, 2, "pair 2 ran B's pass only in part");
    assert!((wall.ratio - 6f64.sqrt()).abs() < 1e-9, "{wall:?}");
    assert!((find("effective_tok_s", None).ratio - 1.0 / 6f64.sqrt()).abs() < 1e-9);
    let (first, second) = (find("ttft_s", Some(0)), find("ttft_s", Some(1)));
    assert_eq!((first.n_pairs, second.n_pairs), (3, 2));
    assert!((first.ratio - 12f64.cbrt()).abs() < 1e-9, "{first:?}");
}

#[test]
fn paired_session_verdicts_compare_the_ratios_between_runs() {
    let run = |id: &str, slow: [f64; 3]| -> Vec<GenerationRecord> {
        (0..3)
            .flat_map(|i| {
                [
                    paired_turn(id, "a", i, 0, 0.1, 1.0),
                    paired_turn(id, "b", i, 0, 0.1, slow[i as usize]),
                ]
            })
            .collect()
    };
    let (baseline, candidate) = (run("r1", [1.0, 1.1, 0.9]), run("r2", [2.0, 2.2, 1.8]));
    let rows = verdict_rows(&baseline, &candidate);
    assert_eq!(
        rows.len(),
        1,
        "paired passes are not the groups' own session verdicts: {rows:?}"
    );
    let row = &rows[0];
    assert_eq!(
        (row.group.as_str(), row.category.as_str(), row.metric.as_str()),
        ("paired/p", "session/s", "effective_tok_s_b_over_a")
    );
    assert!((row.ratio - 0.5).abs() < 0.01, "{row:?}");
}
