//! The answer first, from stored real runs (`fixtures/runs/`): the headline names the fastest
//! group per category, the most faithful quant, and each regression with its absolute values;
//! the page's badge says `regressed`, and the history page has the verdicts.

use quantbench::compare::Verdict;
use quantbench::headline::{self, Kind};
use quantbench::record::GenerationRecord;
use quantbench::store::read_records;
use quantbench::verdicts::{self, Side};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/runs").join(name)
}

fn records(name: &str) -> Vec<GenerationRecord> {
    read_records(&fixture(name).join("generations.jsonl")).unwrap()
}

/// The group with the highest median decode rate in `category`, computed here from the records.
fn fastest_by_hand(records: &[GenerationRecord], category: &str) -> String {
    let mut best: Option<(f64, String)> = None;
    for group in ["smollm2/q4_1", "smollm2/q4_k_m", "smollm2/q8_0"] {
        let mut v: Vec<f64> = records
            .iter()
            .filter(|r| r.ok && !r.warmup && r.group == group && r.category == category)
            .filter_map(|r| r.metrics.decode_rate)
            .collect();
        v.sort_by(f64::total_cmp);
        let median = if v.len() % 2 == 1 {
            v[v.len() / 2]
        } else {
            (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
        };
        if best.as_ref().is_none_or(|(m, _)| median > *m) {
            best = Some((median, group.to_owned()));
        }
    }
    best.unwrap().1
}

#[test]
fn the_headline_names_the_fastest_group_of_each_category_and_the_most_faithful_quant() {
    let records = records("reference-matrix");
    let summary = quantbench::summary::summarize("matrix", &records, &[]);
    let fidelity: quantbench::fidelity::FidelityReport =
        serde_json::from_str(&std::fs::read_to_string(fixture("reference-matrix").join("fidelity.json")).unwrap())
            .unwrap();
    let found = headline::findings(&summary, None, Some(&fidelity));
    for f in &found {
        eprintln!("{}", f.text);
    }
    for category in ["short", "code", "reasoning"] {
        let line = found
            .iter()
            .find(|f| f.kind == Kind::Fastest && f.text.starts_with(&format!("{category}: ")))
            .unwrap_or_else(|| panic!("{category}: {found:?}"));
        let expected = format!("fastest decode {} ", fastest_by_hand(&records, category));
        assert!(
            line.text.contains(&expected) && line.text.contains("% ahead of") && line.text.contains("lowest TTFT"),
            "{expected}: {}",
            line.text
        );
        assert!(
            line.text.contains("intervals apart") || line.text.contains("intervals overlap"),
            "{}",
            line.text
        );
    }
    let faithful = found
        .iter()
        .find(|f| f.kind == Kind::MostFaithful)
        .expect("the fixture has a fidelity pass");
    assert!(
        faithful.text.starts_with("most faithful to smollm2/") && faithful.text.contains("top-1 agreement"),
        "{}",
        faithful.text
    );
}

/// One thread instead of two: every category regressed; the headline says each in words with
/// both absolute values, the page's badge is `regressed`, the history lists the verdicts.
#[test]
fn regressions_are_said_with_absolute_values_and_badge_the_page() {
    let (baseline, candidate) = (records("reference-2-threads-a"), records("reference-1-thread"));
    let doc = verdicts::decide(
        "two-threads".into(),
        Side {
            records: &baseline,
            fidelity: &[],
        },
        Side {
            records: &candidate,
            fidelity: &[],
        },
        0.05,
    );
    let decode = doc
        .comparisons
        .iter()
        .find(|c| c.metric == "decode_rate" && c.category == "short")
        .unwrap();
    assert_eq!(decode.verdict, Verdict::Regressed);
    let (before, after) = (decode.baseline_value.unwrap(), decode.candidate_value.unwrap());
    assert!(
        (after / before - decode.ratio).abs() < 1e-9,
        "the values are what the ratio compares"
    );

    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("2026-11-22T15-53-49Z-26355");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(
        fixture("reference-1-thread").join("generations.jsonl"),
        dir.join("generations.jsonl"),
    )
    .unwrap();
    quantbench::util::write_json_atomic(&dir.join("comparison.json"), &doc).unwrap();
    quantbench::report::write(&dir).unwrap();

    let summary = quantbench::summary::summarize("x", &candidate, &[]);
    let found = headline::findings(&summary, Some(&doc), None);
    let said = found
        .iter()
        .find(|f| f.kind == Kind::Regressed && f.text.starts_with("smollm2/q4_1 short: decode "))
        .expect("the decode regression");
    // "smollm2/q4_1 short: decode 108 → 86.5 tok/s (−20 % [−28, −11]), regressed"
    let shown = |text: &str| text.trim().parse::<f64>().unwrap();
    let (from, rest) = said.text["smollm2/q4_1 short: decode ".len()..]
        .split_once(" → ")
        .unwrap();
    let (to, rest) = rest.split_once(" tok/s (−").unwrap_or_else(|| panic!("{}", said.text));
    assert!(
        (shown(from) - before).abs() <= 0.5 && (shown(to) - after).abs() <= 0.05,
        "{before} → {after}: {}",
        said.text
    );
    assert!(
        rest.contains(" % [−") && said.text.ends_with("]), regressed"),
        "{}",
        said.text
    );
    assert!(
        found
            .iter()
            .any(|f| f.kind == Kind::Note && f.text.starts_with("one baseline run")),
        "the caveat is on the page too"
    );

    let page = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert!(
        page.contains("<span class=\"status regressed\">regressed</span>"),
        "badge"
    );
    let answer = &page[page.find("<div class=\"answer\">").expect("the answer box")..];
    let first_table = page.find("<table").unwrap();
    assert!(
        page.find("<div class=\"answer\">").unwrap() < first_table,
        "the answer comes before any table"
    );
    assert!(
        answer.contains("<li class=\"regressed\">smollm2/q4_1 short: decode "),
        "{}",
        &answer[..answer.len().min(600)]
    );
    let md = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(md.find("## The answer").unwrap() < md.find("| Model").unwrap(), "{md}");
    for line in md.lines().filter(|l| l.starts_with('|')) {
        let columns = line.replace("\\|", "").matches('|').count() - 1;
        assert!(columns <= 8, "{columns} columns: {line}");
    }
    assert!(
        md.contains("## Speed: which is fastest?") && md.contains("## Latency: how long until the answer?"),
        "{md}"
    );
    let history = std::fs::read_to_string(root.path().join("index.html")).unwrap();
    assert!(
        history.contains("<th>verdicts</th>") && history.contains("regressed vs &quot;two-threads&quot;"),
        "{history}"
    );
}
