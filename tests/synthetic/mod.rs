//! Synthetic runs of any size for the scale test (`tests/report_scale.rs`) and the scaling
//! benchmark (`benches/report_scale.rs`): a real record of the reference endpoint
//! (`fixtures/runs/reference-matrix`) cloned into groups × categories × samples, each clone with
//! its own deterministic inter-token gaps and timings, so files and pages have the size and shape
//! of a long real run. Not measurements: only for exercising the reports at scale.

#![allow(dead_code)] // the test and the benchmark each use part of it

use quantbench::load::schedule::SplitMix64;
use quantbench::record::GenerationRecord;
use std::io::Write;
use std::path::{Path, PathBuf};

/// How big a synthetic run is.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub groups: usize,
    pub categories: usize,
    pub samples: usize,
    /// Inter-token gaps per generation (its token events − 1).
    pub gaps: usize,
}

impl Shape {
    pub fn generations(&self) -> usize {
        self.groups * self.categories * self.samples
    }
}

/// Every `FAIL_EVERY`-th sample of a benchmark failed (an HTTP 500), as long runs have some.
pub const FAIL_EVERY: usize = 47;

const CATEGORIES: [&str; 7] = ["short", "code", "long", "reasoning", "chat", "tools", "summarise"];

/// The real record every synthetic one starts from: a measured code sample of smollm2/q8_0.
pub fn template() -> GenerationRecord {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/runs/reference-matrix/generations.jsonl");
    let records = quantbench::store::read_records(&path).expect("the reference-matrix fixture");
    records
        .into_iter()
        .find(|r| r.ok && !r.warmup && r.group == "smollm2/q8_0" && r.category == "code")
        .expect("a q8_0 code sample")
}

/// Writes `root/<run_id>/generations.jsonl` of `shape` and returns the run directory.
pub fn write_run(root: &Path, run_id: &str, shape: Shape) -> PathBuf {
    let dir = root.join(run_id);
    std::fs::create_dir_all(&dir).unwrap();
    let template = template();
    let file = std::fs::File::create(dir.join("generations.jsonl")).unwrap();
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut rng = SplitMix64(0x5eed);
    for g in 0..shape.groups {
        for c in 0..shape.categories {
            for s in 0..shape.samples {
                let record = generation(&template, run_id, (g, c, s), shape.gaps, &mut rng);
                serde_json::to_writer(&mut out, &record).unwrap();
                out.write_all(b"\n").unwrap();
            }
        }
    }
    out.flush().unwrap();
    dir
}

/// Sample `s` of category `c` of group `g`: gaps around a per-group decode speed with jitter and
/// an occasional stall, and timings and metrics consistent with them.
fn generation(
    template: &GenerationRecord,
    run: &str,
    (g, c, s): (usize, usize, usize),
    gaps: usize,
    rng: &mut SplitMix64,
) -> GenerationRecord {
    let mut r = template.clone();
    r.run = run.to_owned();
    r.model = format!("model-{}", g / 4);
    r.quant = format!("q{}", g % 4 + 2);
    r.group = format!("{}/{}", r.model, r.quant);
    r.category = CATEGORIES[c % CATEGORIES.len()].to_owned();
    if c >= CATEGORIES.len() {
        r.category.push_str(&format!("-{}", c / CATEGORIES.len()));
    }
    r.prompt_id = format!("{}-{}", r.category, s % 8);
    r.sample = s as u32;
    r.max_tokens = gaps as u32 + 2;
    if s % FAIL_EVERY == FAIL_EVERY - 1 {
        return failed(r);
    }
    let base_us = 8_000.0 + 700.0 * g as f64;
    r.itl_us = (0..gaps)
        .map(|_| {
            let stall = if rng.next_unit() < 0.01 { 6.0 } else { 1.0 };
            (base_us * stall * (0.75 + 0.5 * rng.next_unit())) as u64
        })
        .collect();
    let ttft_ns = (120e6 * (1.0 + c as f64 * 0.5) * (0.9 + 0.2 * rng.next_unit())) as u64;
    let span_ns: u64 = r.itl_us.iter().sum::<u64>() * 1000;
    let end_ns = ttft_ns + span_ns + 4_000_000;
    r.t.first_token_ns = Some(ttft_ns);
    r.t.last_token_ns = Some(ttft_ns + span_ns);
    r.t.end_ns = Some(end_ns);
    let completion = gaps as u64 + 2;
    r.tokens.completion = Some(completion);
    r.tokens.token_events = gaps as u64 + 1;
    r.tokens.first_event_tokens = Some(1.0);
    r.tokens.after_last_event = 1;
    let mut sorted: Vec<f64> = r.itl_us.iter().map(|us| *us as f64 / 1e6).collect();
    sorted.sort_by(f64::total_cmp);
    let q = |p: f64| (!sorted.is_empty()).then(|| quantbench::stats::quantile_type7(&sorted, p));
    let m = &mut r.metrics;
    m.ttft_s = Some(ttft_ns as f64 / 1e9);
    m.decode_rate = (span_ns > 0).then(|| (completion - 2) as f64 / (span_ns as f64 / 1e9));
    m.e2e_s = Some(end_ns as f64 / 1e9);
    m.output_rate = Some(completion as f64 / (end_ns as f64 / 1e9));
    m.prefill_rate = r.tokens.prompt.map(|p| p as f64 / (ttft_ns as f64 / 1e9));
    (m.itl_p50_s, m.itl_p90_s, m.itl_p99_s) = (q(0.5), q(0.9), q(0.99));
    r
}

fn failed(mut r: GenerationRecord) -> GenerationRecord {
    r.ok = false;
    r.error = Some("HTTP 500: synthetic fault".into());
    r.http_status = Some(500);
    r.itl_us.clear();
    r.metrics = Default::default();
    r.t.first_token_ns = None;
    r.t.last_token_ns = None;
    r.output = Default::default();
    r.server = None;
    r
}
