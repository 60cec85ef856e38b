//! Reports rendered from stored real records (`fixtures/runs/reference-matrix/`: three smollm2
//! quants × three categories on the reference endpoint), with a baseline comparison, a failed
//! sample, an estimated count and hostile text from "the model" and "the server" added.

use quantbench::compare;
use quantbench::record::{CountSource, Flag, GenerationRecord};
use quantbench::store::read_records;
use quantbench::util::write_json_atomic;
use std::path::{Path, PathBuf};

const HOSTILE: &str = "</pre><script>alert(1)</script><img src=x onerror=\"alert(2)\"> it's \"quoted\" & <b>bold</b>";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/runs").join(name)
}

/// A run directory holding the matrix records plus the additions described above.
fn run_dir(root: &Path, name: &str) -> (PathBuf, Vec<GenerationRecord>, compare::ComparisonReport) {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let mut records = read_records(&fixture("reference-matrix").join("generations.jsonl")).unwrap();
    let template = records
        .iter()
        .find(|r| r.group == "smollm2/q8_0" && r.category == "code" && !r.warmup)
        .unwrap()
        .clone();
    let failed = GenerationRecord {
        ok: false,
        error: Some(format!("HTTP 500: {HOSTILE}")),
        http_status: Some(500),
        sample: 10,
        ..template.clone()
    };
    let mut estimated = GenerationRecord {
        sample: 11,
        ..template.clone()
    };
    estimated.tokens.completion_source = Some(CountSource::EventsEstimate);
    estimated.flags.push(Flag::CompletionEstimated);
    let mut hostile = records
        .iter()
        .find(|r| r.group == "smollm2/q4_1" && !r.warmup)
        .unwrap()
        .clone();
    let hostile_index = records.iter().position(|r| *r == hostile).unwrap();
    hostile.output.content = HOSTILE.repeat(2);
    hostile.output.reasoning = HOSTILE.into();
    records[hostile_index] = hostile;
    records.extend([failed, estimated]);
    let mut text = String::new();
    for r in &records {
        text.push_str(&serde_json::to_string(r).unwrap());
        text.push('\n');
    }
    std::fs::write(dir.join("generations.jsonl"), text).unwrap();
    let mut metadata: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("reference-matrix").join("metadata.json")).unwrap())
            .unwrap();
    metadata["run"] = name.into();
    metadata["filter"] = HOSTILE.into();
    metadata["command"] = serde_json::json!(["llm", HOSTILE]);
    write_json_atomic(&dir.join("metadata.json"), &metadata).unwrap();
    write_json_atomic(
        &dir.join("summary.json"),
        &quantbench::summary::summarize(name, &records, &[]),
    )
    .unwrap();
    let baseline = read_records(&fixture("reference-2-threads-a").join("generations.jsonl")).unwrap();
    let doc = compare::ComparisonReport {
        baseline: format!("base{HOSTILE}"),
        noise_threshold: 0.05,
        alpha: 0.05,
        comparisons: compare::compare(&baseline, &records, 0.05),
    };
    write_json_atomic(&dir.join("comparison.json"), &doc).unwrap();
    // The real fidelity pass of the three quants, plus a group whose server could not give one.
    let mut fidelity = quantbench::fidelity::read_report(&fixture("reference-matrix"))
        .unwrap()
        .unwrap();
    let unmeasured = quantbench::fidelity::pass::unavailable(
        "smollm2/mlx-4bit",
        "smollm2/f16",
        quantbench::fidelity::pass::PassSettings {
            tokens: 32,
            top_k: 20,
            timeout: std::time::Duration::from_secs(1),
        },
        HOSTILE.into(),
    );
    fidelity.groups.push(unmeasured);
    write_json_atomic(&quantbench::store::RunDir::new(&dir).fidelity(), &fidelity).unwrap();
    (dir, records, doc)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A minimal RFC 4180 reader: rows of fields.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut field, mut quoted) = (Vec::new(), Vec::new(), String::new(), false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => row.push(std::mem::take(&mut field)),
            ('\n', false) => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (c, _) => field.push(c),
        }
    }
    rows
}

#[test]
fn a_run_report_shows_every_benchmark_chart_verdict_and_failure_with_all_text_escaped() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, records, doc) = run_dir(tmp.path(), "2026-11-22T18-00-00Z-1");
    let written = quantbench::report::write(&dir).unwrap();
    assert_eq!(written.len(), 4, "{written:?}");
    let html = read(&dir.join("index.html"));

    // Structure: the summary table has a row per benchmark, each chart is one inline SVG.
    let summary = quantbench::summary::summarize("x", &records, &[]);
    assert_eq!(summary.benchmarks.len(), 9, "3 quants × 3 categories");
    for b in &summary.benchmarks {
        assert!(
            html.contains(&format!("{}</span></td><td>{}</td>", b.group, b.category)),
            "no summary row for {}/{}",
            b.group,
            b.category
        );
    }
    // 2 speed bars, 2 box plots, gap CDF, timeline, load time, peak memory, rate per GB, 2 forest
    // plots, decode against top-1 agreement and against KL.
    assert_eq!(html.matches("<svg").count(), 13);
    assert_eq!(html.matches("</svg>").count(), 13);
    for title in [
        "Decode rate against top-1 agreement",
        "Decode rate against KL divergence",
        "Decode rate (mean, 95 % interval)",
        "Time to first token",
        "TTFT per sample",
        "Inter-token gaps",
        "Token timeline",
        "Model load time",
        "Peak resident memory",
        "Decode rate per GB",
        "Decode ratio, new / baseline",
    ] {
        assert!(html.contains(title), "missing chart {title}");
    }
    // The quant comparison: a row per group with its fidelity, the reference marked, the group
    // without a fidelity pass saying why.
    let quant = &html[html.find("Which quant?").unwrap()..html.find("Against baseline").unwrap()];
    for (group, top1) in [
        ("smollm2/q4_1", "0.991 [0.976, 1.000]"),
        ("smollm2/q4_k_m", "0.909 [0.856, 0.961]"),
        ("smollm2/q8_0", "0.988 [0.966, 1.000]"),
    ] {
        assert!(
            quant.contains(&format!("{group}</span></td>")) && quant.contains(top1),
            "no fidelity row for {group}: {quant}"
        );
    }
    assert!(
        quant.contains("smollm2/f16</span> (reference)") && quant.contains("not measured: &lt;/pre&gt;"),
        "{quant}"
    );

    // Self-contained: no scripts, no external resources.
    assert!(
        !html.to_lowercase().contains("<script"),
        "a script tag reached the page"
    );
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http") && !html.contains("url("),
        "external reference"
    );

    // Hostile text is shown as text: escaped in model output, error reasons, metadata, baseline name.
    assert!(
        !html.contains("onerror=\"alert") && !html.contains("<img"),
        "an attribute broke out"
    );
    let escaped = "&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=&quot;alert(2)&quot;&gt; it&#39;s &quot;quoted&quot; &amp; &lt;b&gt;bold&lt;/b&gt;";
    assert!(
        html.matches(escaped).count() >= 4,
        "escaped text missing (error, filter, command, baseline, answers)"
    );

    // Provenance and failures are visible, not buried: the read-first box names them.
    let read_first = &html[html.find("Read before trusting").unwrap()..html.find("<h2>Summary").unwrap()];
    assert!(
        read_first.contains("smollm2/q8_0/code: 1 of 12 samples failed"),
        "{read_first}"
    );
    assert!(
        read_first.contains("smollm2/q8_0/code: 1 of 11 token counts estimated from stream events"),
        "{read_first}"
    );
    assert!(html.contains("<h2>Failed generations (1)</h2>") && html.contains("<td class=\"num\">500</td>"));

    // Verdicts: one row per comparison, regressed first, each coloured by its verdict.
    let classes: Vec<&str> = html
        .match_indices("<tr class=\"")
        .map(|(i, _)| html[i + 11..].split('"').next().unwrap())
        .collect();
    let expected: Vec<String> = doc
        .comparisons
        .iter()
        .map(|c| quantbench::util::serde_name(c.verdict))
        .collect();
    assert_eq!(classes, expected);
    assert!(!doc.comparisons.is_empty());

    // Markdown: a row per benchmark with the decode interval; CSV: a row per generation.
    let md = read(&dir.join("summary.md"));
    assert_eq!(md.lines().filter(|l| l.starts_with("| smollm2 |")).count(), 9, "{md}");
    let b = summary
        .benchmarks
        .iter()
        .find(|b| b.group == "smollm2/q8_0" && b.category == "code")
        .unwrap();
    assert!(
        md.contains(&quantbench::report::mean_text(b, &quantbench::report::DECODE)),
        "{md}"
    );
    let csv = parse_csv(&read(&dir.join("generations.csv")));
    assert_eq!(csv.len(), records.len() + 1);
    assert!(csv.iter().all(|row| row.len() == csv[0].len()), "ragged CSV");
    let error_column = csv[0].iter().position(|c| c == "error").unwrap();
    assert!(
        csv.iter()
            .any(|row| row[error_column] == format!("HTTP 500: {HOSTILE}")),
        "the error text did not round-trip"
    );
    let source_column = csv[0].iter().position(|c| c == "completion_source").unwrap();
    assert_eq!(
        csv.iter().filter(|row| row[source_column] == "events_estimate").count(),
        1
    );
}

#[test]
fn the_history_page_lists_runs_newest_first_with_a_trend_per_group() {
    let tmp = tempfile::tempdir().unwrap();
    let (older, ..) = run_dir(tmp.path(), "2026-11-20T10-00-00Z-1");
    let mut metadata: serde_json::Value = serde_json::from_str(&read(&older.join("metadata.json"))).unwrap();
    metadata["started_at"] = "2026-11-20T10:00:00Z".into();
    write_json_atomic(&older.join("metadata.json"), &metadata).unwrap();
    let (newer, ..) = run_dir(tmp.path(), "2026-11-22T18-00-00Z-1");
    quantbench::report::write(&older).unwrap();
    quantbench::report::write(&newer).unwrap();
    // A run killed before it wrote its summary is listed, with the reason it has no numbers.
    let torn = tmp.path().join("2026-11-22T19-00-00Z-1");
    std::fs::create_dir_all(&torn).unwrap();
    std::fs::write(torn.join("generations.jsonl"), "").unwrap();
    let index = read(&quantbench::report::history::write(tmp.path()).unwrap());
    let position = |id: &str| {
        index
            .find(&format!("<a href=\"{id}/index.html\">"))
            .unwrap_or_else(|| panic!("{id} not linked"))
    };
    assert!(
        position("2026-11-22T18-00-00Z-1") < position("2026-11-20T10-00-00Z-1"),
        "newest first"
    );
    assert!(index.contains("2026-11-22T19-00-00Z-1") && index.contains("no summary (summary.json"));
    // Per group, a decode-rate and a TTFT trend.
    assert_eq!(index.matches("<svg").count(), 3 * 2);
    assert!(index.contains("smollm2/q4_k_m: Decode per run") && index.contains("smollm2/q8_0: TTFT per run"));
    assert!(!index.to_lowercase().contains("<script"));
}

/// Debian's `chromium`, if installed (`.ci/run` installs it).
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
        .find(|p| p.is_file())
}

#[test]
fn the_report_opens_in_headless_chromium_without_console_messages_and_is_not_blank() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install Debian's chromium (see .ci/run)"
        );
        eprintln!("skipped: no chromium on PATH (apt-get install chromium)");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (dir, ..) = run_dir(tmp.path(), "2026-11-22T18-00-00Z-1");
    quantbench::report::write(&dir).unwrap();
    let shot = tmp.path().join("shot.png");
    // Flags from the machine notes: no sandbox as root, no background network (refused here).
    let out = std::process::Command::new("timeout")
        .arg("120")
        .arg(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", tmp.path().join("profile").display()))
        .args(["--enable-logging=stderr", "--log-level=0", "--window-size=1100,3000"])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", dir.join("index.html").display()))
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(shot.is_file(), "no screenshot; chromium said:\n{log}");
    // The page has no scripts: any console line (a script error, a blocked resource) is a fault.
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:#?}");

    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut pixels).unwrap();
    let channels = frame.color_type.samples();
    let rgb: Vec<&[u8]> = pixels[..frame.buffer_size()].chunks(channels).collect();
    let not_white = rgb.iter().filter(|p| p[..3] != [255, 255, 255]).count();
    assert!(
        not_white * 20 > rgb.len(),
        "mostly blank: {not_white} of {} pixels drawn",
        rgb.len()
    );
    // The charts were drawn: the first group's bar colour (#4e79a7) is on screen.
    assert!(
        rgb.iter().filter(|p| p[..3] == [0x4e, 0x79, 0xa7]).count() > 1000,
        "no chart bars visible"
    );
}
