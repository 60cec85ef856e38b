//! A real group on the managed reference llama-server — a config variant, so its server arguments
//! are applied too: the run's metadata carries the machine's environment, the server's
//! description and the model file's identity; memory sampling sees the server's resident memory
//! rise above its idle value; every record carries llama-server's own timings and the cross-check
//! holds.

mod support;

use quantbench::record::{Flag, GenerationRecord};
use support::*;

#[test]
fn a_reference_group_records_environment_memory_and_cross_checks() {
    quantbench::reference::ensure_installed(&|m| eprintln!("{m}")).expect("reference install");
    let tmp = tempfile::tempdir().unwrap();
    let body = "[run]\nsamples = 10\nwarmup = 1\nlanguages = [\"en\"]\ncategories = [\"short\"]\nmax_tokens_cap = 64\n\
                [models.smollm2]\nreference = \"llama-server\"\n\
                [models.smollm2.quants.q4_1]\nvariants.ctx2k = { server_args = [\"--ctx-size\", \"2048\"] }\n";
    let cfg = config(tmp.path(), body);
    let outcome = run_suite(tmp.path(), &cfg, "--bench --exact smollm2/q4_1@ctx2k/short").unwrap();
    let dir = outcome.run_dir.unwrap();
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("metadata.json")).unwrap()).unwrap();

    assert!(meta["machine"]["env"].is_object() && meta["machine"]["logical_cores"].as_u64() >= Some(1));
    let group = &meta["groups"][0];
    assert_eq!(
        (group["name"].as_str(), meta["groups"].as_array().unwrap().len()),
        (Some("smollm2/q4_1@ctx2k"), 1)
    );
    let identity = &group["model_file_identity"];
    let bytes = identity["bytes"].as_u64().unwrap();
    assert_eq!(
        identity["hashed_bytes"].as_u64(),
        Some(bytes.min(quantbench::environment::HASHED_PREFIX_BYTES))
    );
    assert_eq!(identity["sha256_prefix"].as_str().unwrap().len(), 64);
    assert_eq!(group["server_description"]["backend"], "llama.cpp");
    assert_eq!(
        group["server_description"]["context_length"].as_u64(),
        Some(2048),
        "the variant's --ctx-size reached the server: {group:#}"
    );

    let memory = &group["memory"];
    let (idle, peak, steady) = (
        memory["idle_rss_bytes"].as_u64().unwrap(),
        memory["peak_rss_bytes"].as_u64().unwrap(),
        memory["steady_rss_bytes"].as_u64().unwrap(),
    );
    eprintln!(
        "memory: idle {idle} B, peak {peak} B, steady {steady} B, {} samples",
        memory["samples"]
    );
    assert!(memory["samples"].as_u64() >= Some(10), "{memory:#}");
    assert!(
        peak > idle,
        "generating raises the server's RSS above its idle value: {memory:#}"
    );
    assert!(steady >= idle && steady <= peak);
    assert!(memory["peak_rss_per_model_gb"].as_f64().is_some_and(|r| r > 0.0));

    let records: Vec<GenerationRecord> = std::fs::read_to_string(dir.join("generations.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ok: Vec<&GenerationRecord> = records.iter().filter(|r| r.ok && !r.warmup).collect();
    assert_eq!(ok.len(), 10);
    for r in &ok {
        let server = r.server.as_ref().expect("llama-server timings on every record");
        assert_eq!(server.completion_diff, Some(0), "the server's count is the count used");
    }
    // Our decode rate and the server's measure the same thing from two sides of the socket: the
    // median relative difference stays within the 5 % tolerance of the per-record flag.
    let mut diffs: Vec<f64> = ok
        .iter()
        .filter_map(|r| r.server.as_ref()?.decode_rate_rel_diff)
        .collect();
    diffs.sort_by(f64::total_cmp);
    let median = diffs[diffs.len() / 2];
    eprintln!(
        "decode-rate differences from the server's: median {:+.2} %, {} of {} flagged",
        median * 100.0,
        ok.iter().filter(|r| r.flags.contains(&Flag::ServerDisagrees)).count(),
        ok.len()
    );
    assert!(
        median.abs() <= quantbench::record::build::SERVER_DECODE_TOLERANCE,
        "median {median}"
    );
}
