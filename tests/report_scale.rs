//! Reports of a long run (issue 21): a synthetic run of 10,000 generations (`tests/synthetic`)
//! gets a page of bounded size with every chart, drawn from summaries whose figures are exact,
//! and `quantbench report <run-id>` works from inside the reports directory.

mod synthetic;

use quantbench::record::GenerationRecord;
use std::path::Path;
use std::process::Command;

/// The bound of issue 21, for 100,000 generations; a 10,000-generation page is far below it.
const PAGE_BOUND: u64 = 5_000_000;

const RUN_ID: &str = "2026-11-25T12-00-00.000Z-00001";

fn quantbench(args: &[&str], cwd: &Path, reports_root: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_quantbench"))
        .args(args)
        .current_dir(cwd)
        .env("QUANTBENCH_REPORTS_DIR", reports_root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "quantbench {args:?} in {}: {}",
        cwd.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Every gap of the measured samples of `group`, sorted, in microseconds.
fn all_gaps(records: &[GenerationRecord], group: &str) -> Vec<f64> {
    let mut gaps: Vec<f64> = records
        .iter()
        .filter(|r| r.ok && !r.warmup && r.group == group)
        .flat_map(|r| r.itl_us.iter().map(|us| *us as f64))
        .collect();
    gaps.sort_by(f64::total_cmp);
    gaps
}

#[test]
fn a_run_of_ten_thousand_generations_gets_a_bounded_page_with_every_chart_and_exact_gap_quantiles() {
    let tmp = tempfile::tempdir().unwrap();
    let reports = tmp.path().join("reports");
    let shape = synthetic::Shape {
        groups: 20,
        categories: 5,
        samples: 100,
        gaps: 120,
    };
    let dir = synthetic::write_run(&reports, RUN_ID, shape);
    assert_eq!(shape.generations(), 10_000);

    // A run id from inside the reports directory, with the reports root set elsewhere.
    let elsewhere = tmp.path().join("elsewhere");
    let written = quantbench(&["report", RUN_ID], &reports, &elsewhere);
    assert!(written.contains("index.html"), "{written}");
    assert!(reports.join("index.html").is_file(), "the history page beside the run");
    // And from any directory, a run id in the reports root.
    quantbench(&["summary", RUN_ID], tmp.path(), &reports);

    let page_bytes = std::fs::metadata(dir.join("index.html")).unwrap().len();
    assert!(page_bytes < PAGE_BOUND, "index.html is {page_bytes} bytes");
    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
    let titles = [
        "Decode rate (mean, 95 % interval)",
        "Time to first token",
        "TTFT per sample",
        "End-to-end time per sample",
        "Inter-token gaps",
        "Token timeline",
    ];
    for title in titles {
        assert!(html.contains(title), "missing chart {title}");
    }
    assert_eq!(html.matches("<svg").count(), titles.len());
    // How the charts were reduced is said on the page (timelines of ≥ 800 events are thinned
    // too: see `report::thinning`; these have 121).
    assert!(
        html.contains("one per pixel row") && html.contains("quantiles of all the group"),
        "the page says how charts were thinned"
    );
    assert!(
        html.contains("<h2>Failed generations (") && html.contains("The first 100;"),
        "failures listed, bounded"
    );

    // The CDF's p50 and p99 are the exact values over every gap, as is the maximum.
    let records = quantbench::store::read_records(&dir.join("generations.jsonl")).unwrap();
    let run = quantbench::report::RunData::load(&dir).unwrap();
    assert_eq!(run.gaps.len(), shape.groups);
    for (group, distribution) in &run.gaps {
        let gaps = all_gaps(&records, group);
        let (p50, p99) = (
            quantbench::stats::quantile_type7(&gaps, 0.5),
            quantbench::stats::quantile_type7(&gaps, 0.99),
        );
        assert_eq!(distribution.quantile_us(0.5), Some(p50), "{group} p50");
        assert_eq!(distribution.quantile_us(0.99), Some(p99), "{group} p99");
        let ms = |us: f64| quantbench::report::num(us / 1e3);
        let row = format!(
            "{group}</span></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>",
            gaps.len(),
            ms(p50),
            ms(p99),
            ms(*gaps.last().unwrap())
        );
        assert!(html.contains(&row), "no exact gap row for {group}: {row}");
    }

    // The page grows with the benchmarks, not with the generations: a tenth of the run, same
    // benchmarks, gives a page of nearly the same size.
    let small = synthetic::write_run(
        &tmp.path().join("small"),
        RUN_ID,
        synthetic::Shape { samples: 10, ..shape },
    );
    quantbench::report::write(&small).unwrap();
    let small_bytes = std::fs::metadata(small.join("index.html")).unwrap().len();
    assert!(
        page_bytes < small_bytes + small_bytes / 4,
        "10× the generations: {small_bytes} → {page_bytes} bytes"
    );
}
