//! The session and depth workloads against the real reference llama-server (SmolLM2 q4_1, an 8k
//! context, prefix cache on): the cached tokens it reports grow turn by turn and equal the ideal
//! from its own tokenizer within a few tokens; a late turn's TTFT is lower with the cache than
//! without (paired over repeats); decode slows with depth. Installs the reference on first use.

mod support;

use quantbench::record::IdealSource;
use quantbench::session::analysis::{SessionReport, CACHE_TOLERANCE_TOKENS};
use support::*;

const CONFIG: &str = r#"
[run]
threads = 1          # one thread keeps its pace on a loaded machine; two spin-wait each other
max_tokens_cap = 8
session_repeats = 3
sessions = ["fix-failing-test-small-en"]
session_cache_off_pairs = true
depths = [0, 2048, 32768]
depth_repeats = 3
depth_decode_tokens = 32

[models.smollm2]
reference = "llama-server"

[models.smollm2.quants]
q4_1 = {}
"#;

#[test]
fn the_reference_caches_what_the_turns_share_and_slows_with_depth() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), CONFIG);
    let outcome = run_suite(dir.path(), &config, "smollm2/q4_1/(session|depth)").unwrap();
    let run_dir = outcome.run_dir.unwrap();
    let report: SessionReport =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("sessions.json")).unwrap()).unwrap();
    eprintln!("{}", quantbench::report::console::sessions(&report));

    let on: Vec<_> = report.turns.iter().filter(|t| t.prefix_cache).collect();
    assert_eq!(on.len(), 5, "the small session fits the 8k window: all 5 turns");
    for t in &on {
        assert_eq!(t.ok, 3, "turn {}: {t:?}", t.turn + 1);
        assert_eq!(t.ideal_source, Some(IdealSource::ServerTokenizer));
    }
    for pair in on.windows(2) {
        assert!(
            pair[1].cached_tokens > pair[0].cached_tokens,
            "cached tokens grow: {:?} then {:?}",
            pair[0].cached_tokens,
            pair[1].cached_tokens
        );
    }
    for t in &on[1..] {
        let (cached, ideal) = (t.cached_tokens.unwrap(), t.ideal_reusable.unwrap());
        assert!(
            (cached - ideal).abs() <= CACHE_TOLERANCE_TOKENS,
            "turn {}: reported {cached} cached, ideal {ideal}",
            t.turn + 1
        );
    }
    let last = report.paired.iter().max_by_key(|p| p.turn).unwrap();
    let ratio = last.ttft_off_over_on.expect("3 pairs give a ratio");
    assert!(
        ratio.interval.lower > 1.0,
        "last turn: TTFT off/on {ratio:?} should exclude 1"
    );

    let decode = |depth: u32| {
        report
            .depths
            .iter()
            .find(|d| d.depth == depth)
            .and_then(|d| d.decode_rate)
            .map(|e| e.point)
            .unwrap()
    };
    assert!(
        decode(2048) < decode(0),
        "decode at 2048 ({:.1}) below decode at 0 ({:.1})",
        decode(2048),
        decode(0)
    );
    assert!(
        report
            .cuts
            .iter()
            .any(|c| c.workload == "depth" && c.what == "32768" && c.reason.contains("8192")),
        "{:?}",
        report.cuts
    );
    let page = std::fs::read_to_string(run_dir.join("index.html")).unwrap();
    assert!(page.contains("Agent sessions") && page.contains("Context depth"));
}

const PAIRED: &str = r#"
[run]
threads = 1
max_tokens_cap = 8
warmup = 1

[models.smollm2]
reference = "llama-server"

[models.smollm2.quants]
q4_1 = {}
q8_0 = {}

[[paired]]
name = "sessions"
a = "smollm2/q4_1"
b = "smollm2/q8_0"
workload = "session"
sessions = ["doc-qa-small-en"]
pairs = 2
"#;

#[test]
fn paired_sessions_replay_the_same_prompts_on_two_reference_quants() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), PAIRED);
    let outcome = run_suite(dir.path(), &config, "^paired/sessions/session$").unwrap();
    let run_dir = outcome.run_dir.unwrap();
    let report: SessionReport =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("sessions.json")).unwrap()).unwrap();
    eprintln!("{}", quantbench::report::console::sessions(&report));
    let records = quantbench::store::read_records(&run_dir.join("generations.jsonl")).unwrap();
    let measured: Vec<_> = records.iter().filter(|r| !r.warmup).collect();
    assert_eq!(measured.len(), 2 * 2 * 4, "2 pairs × 2 sides × 4 turns");
    // Both quants share SmolLM2's tokenizer: the same context is the same prompt, token for
    // token, on both sides of a pair, and each side's cache holds its previous turn.
    let of = |side: &str, index: u32, turn: u32| paired_turn(&measured, side, index, turn);
    for index in 0..2 {
        for turn in 0..4 {
            let (a, b) = (of("a", index, turn), of("b", index, turn));
            assert!(a.ok && b.ok, "{:?} {:?}", a.error, b.error);
            assert_eq!(a.tokens.prompt, b.tokens.prompt, "pair {index} turn {}", turn + 1);
            let tokenized =
                |r: &quantbench::record::GenerationRecord| r.session.as_ref().unwrap().prompt_tokens_tokenized;
            assert_eq!(tokenized(a), tokenized(b));
            if turn > 0 {
                for r in [a, b] {
                    let ideal = r.session.as_ref().unwrap().ideal_reusable.unwrap() as f64;
                    let cached = r.tokens.prompt_cached.unwrap() as f64;
                    assert!(
                        (cached - ideal).abs() <= CACHE_TOLERANCE_TOKENS,
                        "{}: {cached} vs {ideal}",
                        r.group
                    );
                }
            }
        }
    }
    let rows = &report.paired_ab;
    for (metric, turn) in [
        ("effective_tok_s", None),
        ("wall_s", None),
        ("ttft_s", Some(0)),
        ("ttft_s", Some(3)),
    ] {
        let row = rows.iter().find(|p| p.metric == metric && p.turn == turn).unwrap();
        assert_eq!(
            (row.a.as_str(), row.b.as_str(), row.n_pairs),
            ("smollm2/q4_1", "smollm2/q8_0", 2)
        );
    }
}
