//! Native-API dialects over the network, against a scripted server with a known schedule: the
//! request goes to the native path with the native body, the NDJSON stream is timed as it
//! arrives, and the server's final statistics are read and cross-checked.

mod support;

use quantbench::client::{self, Endpoint, GenerationRequest, Limits, Sampling};
use quantbench::dialect::{self, DialectOptions, ServerKind};
use quantbench::prompts::Message;
use quantbench::record::{CountSource, Flag};
use serde_json::json;
use support::*;

fn line(v: serde_json::Value) -> Vec<u8> {
    format!("{v}\n").into_bytes()
}

#[test]
fn ollama_native_chat_is_timed_and_cross_checked() {
    // 20 lines every 20 ms from 100 ms (thinking first), then the final statistics.
    let (first, gap, n) = (ms(100), ms(20), 20u32);
    let mut steps = Vec::new();
    for i in 0..n {
        let message = if i < 5 {
            json!({"role":"assistant","content":"","thinking":format!("t{i} ")})
        } else {
            json!({"role":"assistant","content":format!("c{i} ")})
        };
        steps.push(step(
            first + gap * i,
            line(json!({"model":"m","message":message,"done":false})),
        ));
    }
    // The server's own decode time for its 21 tokens (the 21st ends the generation unseen):
    // 20 intervals of 20 ms.
    let last = first + gap * (n - 1);
    steps.push(step(
        last,
        line(
            json!({"model":"m","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop",
        "prompt_eval_count":9,"prompt_eval_duration":90_000_000u64,"eval_count":21,"eval_duration":400_000_000u64}),
        ),
    ));
    let server = ScriptedServer::start(move |_| Script::ok(steps.clone()));
    let endpoint = Endpoint {
        base_url: server.url.clone(),
        model_id: "m".into(),
        api_key: None,
        dialect: dialect::for_kind(ServerKind::Ollama, DialectOptions::default()),
    };
    let messages = [Message::text("user", "hi")];
    let sampling = Sampling::default();
    let request = GenerationRequest {
        messages: &messages,
        max_tokens: 64,
        sampling: &sampling,
        tools: None,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let obs = rt.block_on(client::generate(
        &client::http_client().unwrap(),
        &endpoint,
        &request,
        &Limits::default(),
    ));
    let r = record_of(obs, endpoint.dialect.as_ref(), 64);
    assert!(r.ok, "{:?}", r.error);

    let served = &server.served()[0];
    assert!(served.head.starts_with("POST /api/chat "), "{}", served.head);
    assert_eq!(
        (
            served.body["options"]["num_predict"].as_u64(),
            served.body["stream"].as_bool()
        ),
        (Some(64), Some(true))
    );
    assert!(
        served.body["messages"][0]["content"]
            .as_str()
            .unwrap()
            .starts_with("[qb-"),
        "salted: Ollama cannot be told to skip its cache"
    );

    assert_eq!(
        (
            r.tokens.completion,
            r.tokens.completion_source,
            r.tokens.after_last_event
        ),
        (Some(21), Some(CountSource::Usage), 1)
    );
    assert_eq!((r.tokens.token_events, r.tokens.reasoning_events), (20, 5));
    assert_eq!(r.output.reasoning, "t0 t1 t2 t3 t4 ");
    // Against the server's writes (line i at `written[i]`; bounds as in "Timing in these tests",
    // tests/support/mod.rs): TTFT from the first line, stamped before the second was written;
    // decode 19 intervals over the first-to-last span (the 21st token is never streamed).
    let written = |i: usize| (served.written[i] - served.received).as_secs_f64();
    let ttft = r.metrics.ttft_s.unwrap();
    assert!(
        ttft >= written(0) && ttft < written(1),
        "ttft {ttft}, lines written at {} and {}",
        written(0),
        written(1)
    );
    let span = (r.t.last_token_ns.unwrap() - r.t.first_token_ns.unwrap()) as f64 / 1e9;
    assert!(
        (r.metrics.decode_rate.unwrap() * span - 19.0).abs() < 1e-6,
        "{:?} over {span} s",
        r.metrics.decode_rate
    );
    assert!(
        (span - (written(19) - written(0))).abs() < gap.as_secs_f64(),
        "first-to-last line {span} s"
    );
    let report = r.server.as_ref().unwrap();
    assert_eq!(
        (report.predicted_n, report.prompt_n, report.completion_diff),
        (Some(21), Some(9), Some(0))
    );
    // The server's side: (21 − 1) / 400 ms = 50 tokens/s; ours agrees to within one 20 ms gap in 380 ms.
    assert!(report.decode_rate_rel_diff.unwrap().abs() < 0.06, "{report:?}");
    assert!(!r.flags.contains(&Flag::ServerDisagrees), "{:?}", r.flags);
}
