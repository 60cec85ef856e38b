//! Export formats from a fixed real run (`fixtures/runs/reference-matrix`, with a memory
//! bandwidth and bytes per token added to its metadata so the roofline figures appear):
//! `bmf.json` checked against the Bencher Metric Format's published JSON schema
//! (bencher.dev/bmf.json: benchmark → measure → `{value, lower_value?, upper_value?}`, numbers)
//! and the github-action-benchmark files against its custom format (`name`, `unit`, `value`,
//! optional `range` and `extra` strings); every value equal to `summary.json`'s.

use quantbench::export::{self, Format};
use quantbench::roofline::{Bandwidth, BandwidthKind, WeightsPerToken};
use quantbench::store::read_records;
use quantbench::summary::{summarize, Summary};
use quantbench::util::write_json_atomic;
use serde_json::Value;
use std::path::{Path, PathBuf};

const BYTES_PER_TOKEN: u64 = 100_000_000;

fn run_dir(root: &Path) -> PathBuf {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/runs/reference-matrix");
    let dir = root.join("run");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(fixture.join("generations.jsonl"), dir.join("generations.jsonl")).unwrap();
    let mut metadata: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture.join("metadata.json")).unwrap()).unwrap();
    let bandwidth = Bandwidth {
        bytes_per_s: 20e9,
        kind: BandwidthKind::MeasuredCpuRead,
        source: "test".into(),
    };
    metadata["memory_bandwidth"] = serde_json::to_value(&bandwidth).unwrap();
    let weights = WeightsPerToken {
        source: "test".into(),
        total_bytes: BYTES_PER_TOKEN,
        bytes_per_token: BYTES_PER_TOKEN,
        expert_bytes: 0,
        experts: None,
        tied_embedding: true,
    };
    for g in metadata["groups"].as_array_mut().unwrap() {
        g["weights_per_token"] = serde_json::to_value(&weights).unwrap();
    }
    write_json_atomic(&dir.join("metadata.json"), &metadata).unwrap();
    let records = read_records(&dir.join("generations.jsonl")).unwrap();
    let mut summary = summarize("run", &records, &[]);
    summary.roofline = quantbench::roofline::from_metadata(&records, &metadata);
    write_json_atomic(&dir.join("summary.json"), &summary).unwrap();
    dir
}

/// Equal to the bit: serde_json's `float_roundtrip` reads back exactly what it wrote.
fn same(v: &Value, expected: f64) {
    assert_eq!(v.as_f64(), Some(expected), "{v}");
}

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn bmf_follows_the_published_schema_and_equals_the_summary() {
    let root = tempfile::tempdir().unwrap();
    let dir = run_dir(root.path());
    let path = export::write(&dir, Format::Bmf).unwrap();
    assert_eq!(path, dir.join("bmf.json"));
    let bmf = read(&path);
    let summary: Summary = serde_json::from_value(read(&dir.join("summary.json"))).unwrap();
    // The schema: an object of non-empty benchmark names, each an object of non-empty measure
    // names, each an object with a numeric `value` and optional numeric bounds, nothing else.
    let benchmarks = bmf.as_object().expect("an object of benchmarks");
    assert!(!benchmarks.is_empty());
    for (benchmark, measures) in benchmarks {
        assert!(!benchmark.is_empty() && benchmark.len() <= 1024);
        for (measure, metric) in measures.as_object().expect("an object of measures") {
            assert!(!measure.is_empty() && measure.len() <= 64, "{measure}");
            let metric = metric.as_object().expect("a metric object");
            assert!(metric["value"].is_number(), "{benchmark} {measure}");
            for (key, v) in metric {
                assert!(
                    ["value", "lower_value", "upper_value"].contains(&key.as_str()) && v.is_number(),
                    "{benchmark} {measure} {key}"
                );
            }
            if let (Some(l), Some(u)) = (metric.get("lower_value"), metric.get("upper_value")) {
                let (l, v, u) = (
                    l.as_f64().unwrap(),
                    metric["value"].as_f64().unwrap(),
                    u.as_f64().unwrap(),
                );
                assert!(l <= v && v <= u, "{benchmark} {measure}: {l} {v} {u}");
            }
        }
    }
    // Values equal summary.json's: decode rate (arithmetic mean), TTFT in ms (geometric mean),
    // E2E in s, each with its 95 % interval.
    for b in &summary.benchmarks {
        let entry = &bmf[format!("{}/{}", b.group, b.category)];
        for (metric, measure, scale) in [
            ("decode_rate", "decode_rate", 1.0),
            ("ttft_s", "ttft", 1e3),
            ("e2e_s", "e2e", 1.0),
        ] {
            let mean = b.metrics[metric].mean.unwrap();
            let interval = mean.interval.unwrap();
            same(&entry[measure]["value"], mean.point * scale);
            same(&entry[measure]["lower_value"], interval.lower * scale);
            same(&entry[measure]["upper_value"], interval.upper * scale);
        }
        let bound = 20e9 / BYTES_PER_TOKEN as f64;
        same(
            &entry["roofline_pct"]["value"],
            b.metrics["decode_rate"].mean.unwrap().point / bound * 100.0,
        );
    }
    // Per group: load time and peak RSS as metadata.json has them, and the group's roofline.
    let metadata = read(&dir.join("metadata.json"));
    for g in metadata["groups"].as_array().unwrap() {
        let group = &bmf[g["name"].as_str().unwrap()];
        assert_eq!(group["load_time"]["value"], g["load_time_s"]);
        same(
            &group["rss_peak"]["value"],
            g["memory"]["peak_rss_bytes"].as_f64().unwrap(),
        );
        let r = summary
            .roofline
            .iter()
            .find(|r| r.group == g["name"].as_str().unwrap())
            .unwrap();
        same(&group["roofline_pct"]["value"], r.percent.point);
    }
}

#[test]
fn github_action_benchmark_files_hold_one_direction_each() {
    let root = tempfile::tempdir().unwrap();
    let dir = run_dir(root.path());
    let bigger = read(&export::write(&dir, Format::GabBigger).unwrap());
    let smaller = read(&export::write(&dir, Format::GabSmaller).unwrap());
    for (doc, expected) in [
        (&bigger, ["decode_rate", "roofline_pct"].as_slice()),
        (&smaller, ["ttft", "e2e", "load_time", "rss_peak"].as_slice()),
    ] {
        let entries = doc.as_array().expect("an array");
        assert!(!entries.is_empty());
        for e in entries {
            let e = e.as_object().unwrap();
            assert!(
                e["name"].is_string() && e["unit"].is_string() && e["value"].is_number(),
                "{e:?}"
            );
            for (key, v) in e {
                match key.as_str() {
                    "name" | "unit" | "value" => {}
                    "range" | "extra" => assert!(v.is_string()),
                    other => panic!("unexpected key {other}"),
                }
            }
            let measure = e["name"].as_str().unwrap().rsplit(' ').next().unwrap();
            assert!(expected.contains(&measure), "{measure} in the wrong file");
        }
    }
    let summary: Summary = serde_json::from_value(read(&dir.join("summary.json"))).unwrap();
    let b = &summary.benchmarks[0];
    let decode = bigger
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == format!("{}/{} decode_rate", b.group, b.category))
        .unwrap();
    same(&decode["value"], b.metrics["decode_rate"].mean.unwrap().point);
    assert!(decode["range"].as_str().unwrap().starts_with("± "));
    assert!(
        export::write(root.path(), Format::Bmf).is_err(),
        "a directory without a summary is an error"
    );
}
