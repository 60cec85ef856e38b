//! Verdicts from stored real runs (`fixtures/runs/`): the reference server with 1 thread instead
//! of 2 regressed everywhere; two 2-thread runs raise no alarm.

use quantbench::compare::{self, Method, Verdict, DEFAULT_NOISE};
use quantbench::record::GenerationRecord;
use quantbench::store::read_records;

fn fixture(name: &str) -> Vec<GenerationRecord> {
    read_records(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/runs")
            .join(name)
            .join("generations.jsonl"),
    )
    .unwrap()
}

#[test]
fn one_thread_instead_of_two_regresses_every_category() {
    let rows = compare::compare(
        &fixture("reference-2-threads-a"),
        &fixture("reference-1-thread"),
        DEFAULT_NOISE,
    );
    let decode: Vec<_> = rows.iter().filter(|r| r.metric == "decode_rate").collect();
    assert_eq!(decode.len(), 5);
    for r in &decode {
        assert_eq!(
            (r.verdict, r.method, r.n_baseline, r.n_candidate),
            (Verdict::Regressed, Method::WithinRun, 10, 10),
            "{r:?}"
        );
        assert!(r.interval.upper < 0.95, "{r:?}");
    }
    assert!(rows
        .iter()
        .filter(|r| r.metric == "ttft_s")
        .all(|r| r.verdict == Verdict::Regressed));
    // Regressions come first in the table, which ends with the one-run caution.
    assert_eq!(rows[0].verdict, Verdict::Regressed);
    let table = quantbench::report::console::verdicts(&rows);
    assert!(
        table.starts_with("verdict") && table.contains("regressed") && table.contains("not drift between runs"),
        "{table}"
    );
}

#[test]
fn two_runs_of_the_same_setup_raise_no_alarm() {
    let rows = compare::compare(
        &fixture("reference-2-threads-a"),
        &fixture("reference-2-threads-b"),
        DEFAULT_NOISE,
    );
    assert_eq!(rows.len(), 5 * 8, "5 categories × 8 metrics");
    for r in &rows {
        assert!(!matches!(r.verdict, Verdict::Regressed | Verdict::Improved), "{r:?}");
    }
}
