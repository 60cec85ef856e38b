//! The session workload against a scripted server with a known prefix-cache model: its prompt
//! "tokens" are 8-byte pieces of the request's messages, it caches exactly the common prefix
//! with the previous request, and its first token comes after a fixed cost per uncached token;
//! with tools offered, a tool-call delta follows the first token after a known delay. Each model
//! has a cache of its own, as two servers would.

mod support;

use quantbench::session::analysis::SessionReport;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::*;

const BYTES_PER_TOKEN: u64 = 8;
const BASE: Duration = Duration::from_millis(20);
const PER_UNCACHED_TOKEN: Duration = Duration::from_micros(200);
const TOOL_CALL_AFTER: Duration = Duration::from_millis(30);
const GAP: Duration = Duration::from_millis(10);
const CONTENT_TOKENS: u64 = 5;
/// Scheduled times are met within this (threads, loopback, a shared machine).
const TOLERANCE_S: f64 = 0.040;

/// The scheduled TTFT of a request with `prompt` tokens of which `cached` were cached.
fn scheduled_ttft(prompt: u64, cached: u64) -> f64 {
    (BASE + PER_UNCACHED_TOKEN * (prompt - cached) as u32).as_secs_f64()
}

/// A server with the cache model above; `report_cache` false leaves `cached_tokens` out.
fn cache_model_server(report_cache: bool) -> ScriptedServer {
    let last: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::default();
    ScriptedServer::with_routes(
        move |method, path, body| {
            if method != "POST" || !path.ends_with("/chat/completions") {
                return None;
            }
            let prompt: Vec<u8> = body["messages"]
                .as_array()?
                .iter()
                .flat_map(|m| m.to_string().into_bytes())
                .collect();
            let mut caches = last.lock().unwrap();
            let previous = caches.entry(body["model"].as_str()?.to_owned()).or_default();
            let common = prompt.iter().zip(previous.iter()).take_while(|(a, b)| a == b).count() as u64;
            *previous = prompt.clone();
            let (tokens, cached) = (prompt.len() as u64 / BYTES_PER_TOKEN, common / BYTES_PER_TOKEN);
            let first = BASE + PER_UNCACHED_TOKEN * (tokens - cached) as u32;
            let mut steps = vec![step(ms(0), role()), step(first, content("ok"))];
            let mut at = first;
            let mut completion = 1;
            if body.get("tools").is_some() {
                at += TOOL_CALL_AFTER;
                let call = serde_json::json!({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","type":"function","function":{"name":"run_tests","arguments":"{}"}}]}}]});
                steps.push(step(at, data(call)));
                completion += 1;
            }
            for i in 1..CONTENT_TOKENS {
                at += GAP;
                steps.push(step(at, content(&format!(" t{i}"))));
                completion += 1;
            }
            let details = if report_cache {
                serde_json::json!({"cached_tokens": cached})
            } else {
                serde_json::Value::Null
            };
            let usage = serde_json::json!({"choices":[],"usage":{"prompt_tokens":tokens,"completion_tokens":completion,"prompt_tokens_details":details}});
            steps.extend([step(at, finish("stop")), step(at, data(usage)), step(at, done())]);
            Some(Script::ok(steps))
        },
        |_| Script::default(),
    )
}

fn run(
    server: &ScriptedServer,
    quants: &[&str],
) -> (
    tempfile::TempDir,
    SessionReport,
    Vec<quantbench::record::GenerationRecord>,
) {
    let tmp = tempfile::tempdir().unwrap();
    let quants_n = quants.len() as u32;
    let quants: String = quants
        .iter()
        .map(|q| format!("[models.m.quants.{q}]\nmodel_id = \"scripted-{q}\"\n"))
        .collect();
    let body = format!(
        "[run]\nsession_repeats = 3\nsessions = [\"fix-failing-test-small-en\"]\n[models.m]\nendpoint = {{ url = {:?}, kind = \"openai\" }}\n{quants}",
        server.url
    );
    let config = config(tmp.path(), &body);
    let outcome = run_suite(tmp.path(), &config, "/session$").unwrap();
    // A run of sessions alone plans one `session` benchmark per group, and says it ran.
    let (status, counts) = outcome.status.clone().unwrap();
    assert_eq!(
        (status, counts.benchmarks_planned, counts.benchmarks_not_run),
        (quantbench::metadata::RunStatus::Complete, quants_n, 0),
        "{counts:?}"
    );
    let dir = outcome.run_dir.unwrap();
    let report: SessionReport =
        serde_json::from_str(&std::fs::read_to_string(dir.join("sessions.json")).unwrap()).unwrap();
    let records = quantbench::store::read_records(&dir.join("generations.jsonl")).unwrap();
    (tmp, report, records)
}

#[test]
fn turns_follow_the_cache_model_schedule() {
    let server = cache_model_server(true);
    let (_tmp, report, records) = run(&server, &["q"]);
    assert_eq!(records.len(), 3 * 5, "3 repeats of 5 turns");
    for r in &records {
        let tag = r.session.as_ref().unwrap();
        assert!(r.ok, "{:?}", r.error);
        let (prompt, cached) = (r.tokens.prompt.unwrap(), r.tokens.prompt_cached.unwrap());
        let ttft = r.metrics.ttft_s.unwrap();
        assert!(
            (ttft - scheduled_ttft(prompt, cached)).abs() < TOLERANCE_S,
            "turn {}: TTFT {ttft:.3} s, scheduled {:.3} s",
            tag.turn,
            scheduled_ttft(prompt, cached)
        );
        let tool = r.t.first_tool_call_ns.unwrap() as f64 / 1e9;
        assert!(
            (tool - ttft - TOOL_CALL_AFTER.as_secs_f64()).abs() < TOLERANCE_S,
            "turn {}: first tool call {tool:.3} s",
            tag.turn
        );
        // No tokenizer endpoint: the ideal is the previous turn's prompt, flagged as estimated;
        // the model server caches exactly that prefix.
        match tag.turn {
            0 => assert_eq!(tag.ideal_reusable, None, "turn 1 of a repeat shares nothing known"),
            _ => {
                assert_eq!(tag.ideal_source, Some(quantbench::record::IdealSource::Estimated));
                assert_eq!(tag.ideal_reusable, Some(cached), "turn {}", tag.turn);
            }
        }
    }
    let turns: Vec<&quantbench::session::analysis::TurnRow> = report.turns.iter().collect();
    assert_eq!(turns.len(), 5);
    assert!(
        turns.windows(2).all(|w| w[1].cached_tokens > w[0].cached_tokens),
        "cached tokens grow turn by turn"
    );
    assert!(turns.iter().all(|t| !t.cache_mismatch));
    let session = &report.sessions[0];
    assert_eq!((session.complete, session.turns), (3, 5));
    assert!((session.cache_efficiency.unwrap() - 1.0).abs() < 1e-9);
    // famstack's effective tok/s from the schedule: Σ output tokens / Σ E2E per repeat.
    let per_repeat: Vec<f64> = (0..3)
        .map(|rep| {
            let of: Vec<_> = records
                .iter()
                .filter(|r| r.session.as_ref().unwrap().repeat == rep)
                .collect();
            let out: u64 = of.iter().map(|r| r.tokens.completion.unwrap()).sum();
            let e2e: f64 = of
                .iter()
                .map(|r| {
                    scheduled_ttft(r.tokens.prompt.unwrap(), r.tokens.prompt_cached.unwrap())
                        + (TOOL_CALL_AFTER + GAP * (CONTENT_TOKENS - 1) as u32).as_secs_f64()
                })
                .sum();
            out as f64 / e2e
        })
        .collect();
    let expected = per_repeat.iter().sum::<f64>() / 3.0;
    let measured = session.effective_tok_s.unwrap().point;
    assert!(
        (measured - expected).abs() / expected < 0.10,
        "effective {measured:.2} tok/s, scheduled {expected:.2}"
    );
}

#[test]
fn replay_sends_byte_identical_contexts_to_two_groups() {
    let server = cache_model_server(true);
    let (_tmp, _report, records) = run(&server, &["a", "b"]);
    assert_eq!(records.len(), 2 * 15);
    let chats: Vec<serde_json::Value> = server
        .routed
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.path.ends_with("/chat/completions"))
        .map(|r| r.body.clone())
        .collect();
    assert_eq!(chats.len(), 30);
    let (a, b) = chats.split_at(15);
    for (i, (a, b)) in a.iter().zip(b).enumerate() {
        assert_eq!(a["model"], "scripted-a");
        assert_eq!(b["model"], "scripted-b");
        assert_eq!(a["messages"].to_string(), b["messages"].to_string(), "request {i}");
        assert_eq!(a["tools"], b["tools"]);
    }
}

#[test]
fn a_server_without_cache_figures_gives_not_reported_never_zero() {
    let server = cache_model_server(false);
    let (_tmp, report, records) = run(&server, &["q"]);
    assert!(records.iter().all(|r| r.ok && r.tokens.prompt_cached.is_none()));
    assert!(report
        .turns
        .iter()
        .all(|t| t.cached_tokens.is_none() && t.cached_reported == 0));
    assert_eq!(report.sessions[0].cache_efficiency, None);
    assert!(quantbench::report::console::sessions(&report).contains("not reported"));
}

/// The chat requests the server received: (model, messages, tools), in order.
fn chats(server: &ScriptedServer) -> Vec<(String, String, String)> {
    let routed = server.routed.lock().unwrap();
    routed
        .iter()
        .filter(|r| r.path.ends_with("/chat/completions"))
        .map(|r| {
            let model = r.body["model"].as_str().unwrap().to_owned();
            (model, r.body["messages"].to_string(), r.body["tools"].to_string())
        })
        .collect()
}

#[test]
fn paired_sessions_interleave_identical_passes_and_pair_the_right_samples() {
    let server = cache_model_server(true);
    let tmp = tempfile::tempdir().unwrap();
    let body = format!(
        "[run]\nwarmup = 1\nsession_repeats = 3\n\
         [models.m]\nendpoint = {{ url = {:?}, kind = \"openai\" }}\n\
         [models.m.quants.a]\nmodel_id = \"scripted-a\"\n[models.m.quants.b]\nmodel_id = \"scripted-b\"\n\
         [[paired]]\nname = \"ab\"\na = \"m/a\"\nb = \"m/b\"\nworkload = \"session\"\nsessions = [\"fix-failing-test-small-en\"]\n",
        server.url
    );
    let config = config(tmp.path(), &body);
    assert_eq!(config.paired[0].pairs, 3, "pairs default to side A's session_repeats");
    let outcome = run_suite(tmp.path(), &config, "^paired/ab/session$").unwrap();
    let (status, counts) = outcome.status.clone().unwrap();
    assert_eq!(
        (status, counts.benchmarks_planned, counts.benchmarks_not_run),
        (quantbench::metadata::RunStatus::Complete, 1, 0),
        "{counts:?}"
    );

    // Order: one warm-up per side, then pairs of whole passes A B, B A, A B.
    let chats = chats(&server);
    let models: Vec<&str> = chats.iter().map(|(m, _, _)| m.as_str()).collect();
    let pass = |m: &'static str| [m; 5];
    let expected: Vec<&str> = [["scripted-a"], ["scripted-b"]]
        .concat()
        .into_iter()
        .chain(pass("scripted-a"))
        .chain(pass("scripted-b"))
        .chain(pass("scripted-b"))
        .chain(pass("scripted-a"))
        .chain(pass("scripted-a"))
        .chain(pass("scripted-b"))
        .collect();
    assert_eq!(models, expected);
    // Both sides of a pair replay byte-identical contexts and tools, turn by turn; passes differ.
    let measured = &chats[2..];
    for pair in 0..3 {
        let (first, second) = (
            &measured[pair * 10..pair * 10 + 5],
            &measured[pair * 10 + 5..pair * 10 + 10],
        );
        for (k, (x, y)) in first.iter().zip(second).enumerate() {
            assert_eq!((&x.1, &x.2), (&y.1, &y.2), "pair {pair} turn {}", k + 1);
        }
    }
    assert_ne!(measured[0].1, measured[10].1, "each pair has its own tag");
    assert_ne!(chats[0].1, measured[0].1, "warm-ups prime no measured pass");

    let dir = outcome.run_dir.unwrap();
    let records = quantbench::store::read_records(&dir.join("generations.jsonl")).unwrap();
    assert_eq!(records.iter().filter(|r| r.warmup).count(), 2);
    let measured: Vec<_> = records.iter().filter(|r| !r.warmup).collect();
    assert_eq!(measured.len(), 30);
    for r in &measured {
        let (pair, session) = (r.pair.as_ref().unwrap(), r.session.as_ref().unwrap());
        assert!(r.ok, "{:?}", r.error);
        assert_eq!(pair.name, "ab");
        assert_eq!(r.group, format!("m/{}", pair.side));
        assert_eq!(session.repeat, pair.index);
    }
    let report: SessionReport =
        serde_json::from_str(&std::fs::read_to_string(dir.join("sessions.json")).unwrap()).unwrap();
    assert!(
        report.sessions.is_empty(),
        "paired passes are not a group's own session rows"
    );
    // Each ratio is the geometric mean of B / A over the pairs, matched by pair index and turn.
    let value = |side: &str, index: u32, turn: u32| paired_turn(&measured, side, index, turn).metrics.ttft_s.unwrap();
    let per_pass = |side: &str, index: u32, f: &dyn Fn(&quantbench::record::GenerationRecord) -> f64| -> f64 {
        measured
            .iter()
            .filter(|r| r.pair.as_ref().is_some_and(|p| p.side == side && p.index == index))
            .map(|r| f(r))
            .sum()
    };
    let geometric = |ratios: Vec<f64>| (ratios.iter().map(|r| r.ln()).sum::<f64>() / ratios.len() as f64).exp();
    let find = |metric: &str, turn: Option<u32>| {
        report
            .paired_ab
            .iter()
            .find(|p| p.metric == metric && p.turn == turn)
            .unwrap_or_else(|| panic!("no {metric} {turn:?} in {:?}", report.paired_ab))
    };
    for k in 0..5 {
        let row = find("ttft_s", Some(k));
        assert_eq!((row.a.as_str(), row.b.as_str(), row.n_pairs), ("m/a", "m/b", 3));
        let expected = geometric((0..3).map(|i| value("b", i, k) / value("a", i, k)).collect());
        assert!(
            (row.ratio - expected).abs() < 1e-9,
            "turn {k}: {} vs {expected}",
            row.ratio
        );
        assert!(row.interval.lower <= row.ratio && row.ratio <= row.interval.upper);
    }
    let e2e = |r: &quantbench::record::GenerationRecord| r.metrics.e2e_s.unwrap();
    let wall = geometric(
        (0..3)
            .map(|i| per_pass("b", i, &e2e) / per_pass("a", i, &e2e))
            .collect(),
    );
    assert!((find("wall_s", None).ratio - wall).abs() < 1e-9);
    let out = |r: &quantbench::record::GenerationRecord| r.tokens.completion.unwrap() as f64;
    let effective = |side: &str, i: u32| per_pass(side, i, &out) / per_pass(side, i, &e2e);
    let effective = geometric((0..3).map(|i| effective("b", i) / effective("a", i)).collect());
    assert!((find("effective_tok_s", None).ratio - effective).abs() < 1e-9);
    for file in ["summary.md", "index.html"] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        assert!(text.contains("Paired sessions"), "{file}");
    }
}
