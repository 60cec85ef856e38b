//! The client and record against a scripted server with a known schedule.

mod support;

use quantbench::client::Limits;
use quantbench::record::{CountSource, Flag, GenerationRecord};
use std::time::Duration;
use support::*;

fn run_one(server: &ScriptedServer, max_tokens: u32) -> GenerationRecord {
    run_with(server, max_tokens, &Limits::default())
}

fn run_with(server: &ScriptedServer, max_tokens: u32, limits: &Limits) -> GenerationRecord {
    let (obs, ep) = generate_once(&server.url, max_tokens, limits);
    record_of(obs, ep.dialect.as_ref(), max_tokens)
}

fn secs(ns: Option<u64>) -> f64 {
    ns.unwrap() as f64 / 1e9
}

/// TTFT and the inter-token gaps are the server's writes as they arrived. Role chunk and
/// keep-alive comments come first and must not end TTFT. Its bounds are orders, not precision claims
/// ("Timing in these tests", tests/support/mod.rs).
#[test]
fn ttft_and_gaps_follow_a_known_schedule() {
    let mut steps = vec![
        step(ms(0), role()),
        step(ms(10), keepalive()),
        step(ms(20), keepalive()),
    ];
    let (first, gap, n) = (ms(100), ms(20), 31u64);
    steps.extend(answer(first, gap, n, Some((12, n)), "length").into_iter().skip(1));
    let server = ScriptedServer::start(move |_| Script::ok(steps.clone()));
    let r = run_one(&server, 31);
    assert!(r.ok, "{:?}", r.error);

    // Token i was written at `written[3 + i]`, after the role chunk and the two keep-alives.
    let served = &server.served()[0];
    let written = |i: u64| (served.written[3 + i as usize] - served.received).as_secs_f64();
    let ttft = r.metrics.ttft_s.unwrap();
    // Sent before the server received it, stamped after the server wrote it: TTFT ≥ the server's
    // own (exact; a keep-alive ending TTFT would be 80 ms short), and stamped before the next token.
    assert!(
        ttft >= written(0) && ttft < written(1),
        "ttft {ttft}, tokens written at {} and {}",
        written(0),
        written(1)
    );

    let span = secs(r.t.last_token_ns) - secs(r.t.first_token_ns);
    let server_span = written(n - 1) - written(0);
    assert!(
        (span - server_span).abs() < gap.as_secs_f64(),
        "first-to-last token {span} s, written {server_span} s"
    );
    assert_eq!(r.itl_us.len() as u64, n - 1);
    assert_eq!(
        (r.tokens.completion, r.tokens.completion_source),
        (Some(n), Some(CountSource::Usage))
    );
    assert_eq!(r.tokens.prompt, Some(12));
    // (N − 1) tokens over the first-to-last span.
    assert!(
        (r.metrics.decode_rate.unwrap() * span - (n - 1) as f64).abs() < 1e-6,
        "{:?}",
        r.metrics.decode_rate
    );
    assert!(!r.early_stop && r.flags.is_empty(), "{:?}", r.flags);
    assert_eq!(r.finish_reason.as_deref(), Some("length"));
}

#[test]
fn reasoning_only_deltas_are_tokens_and_estimates_are_flagged() {
    let mut steps = vec![step(ms(0), role())];
    for i in 0..5 {
        steps.push(step(ms(10 + i), reasoning("think ")));
    }
    for i in 0..3 {
        steps.push(step(ms(20 + i), content("ok ")));
    }
    steps.extend([step(ms(30), finish("stop")), step(ms(30), done())]);
    let server = ScriptedServer::start(move |_| Script::ok(steps.clone()));
    let r = run_one(&server, 8);
    assert!(r.ok, "{:?}", r.error);
    assert_eq!(r.tokens.token_events, 8);
    assert_eq!(
        (r.tokens.completion, r.tokens.completion_source),
        (Some(8), Some(CountSource::EventsEstimate))
    );
    assert_eq!(
        (r.tokens.reasoning, r.tokens.reasoning_source),
        (Some(5), Some(CountSource::EventsEstimate))
    );
    assert_eq!(r.flags, vec![Flag::CompletionEstimated, Flag::ReasoningEstimated]);
    assert_eq!(r.output.reasoning, "think ".repeat(5));
    assert_eq!(r.output.content, "ok ".repeat(3));
    // TTFT ends at the first reasoning delta, before the first visible text was even written.
    let served = &server.served()[0];
    let first_text = (served.written[6] - served.received).as_secs_f64();
    assert!(
        r.metrics.ttft_s.unwrap() < first_text,
        "{:?} vs text written at {first_text}",
        r.metrics.ttft_s
    );
}

#[test]
fn several_tokens_per_chunk_take_the_count_from_usage() {
    let mut steps = vec![step(ms(0), role())];
    for i in 0..4 {
        steps.push(step(ms(50 + 50 * i), content("a b c d e ")));
    }
    steps.extend([
        step(ms(200), finish("length")),
        step(ms(200), usage(7, 20)),
        step(ms(200), done()),
    ]);
    let server = ScriptedServer::start(move |_| Script::ok(steps.clone()));
    let r = run_one(&server, 20);
    assert!(r.ok, "{:?}", r.error);
    assert_eq!(
        (r.tokens.completion, r.tokens.completion_source),
        (Some(20), Some(CountSource::Usage))
    );
    assert_eq!(r.tokens.first_event_tokens, Some(5.0));
    // 15 tokens after the first event, over its first-to-last span.
    let span = secs(r.t.last_token_ns) - secs(r.t.first_token_ns);
    assert!(
        (r.metrics.decode_rate.unwrap() * span - 15.0).abs() < 1e-6,
        "{:?} over {span} s",
        r.metrics.decode_rate
    );
    assert!(r.flags.is_empty(), "{:?}", r.flags);
}

/// 96 tokens in 32 events of 3, ended by a model stop, usage present: every counted token was
/// streamed, so the decode rate is 93 tokens over the 31 gaps the server really wrote — exact
/// (an unseen end token assumed here would make it 1.07 % low).
#[test]
fn three_tokens_per_event_give_the_exact_decode_rate() {
    let mut steps = vec![step(ms(0), role())];
    for i in 0..32u32 {
        steps.push(step(ms(20) + ms(10) * i, content("a b c ")));
    }
    let end = ms(20) + ms(10) * 31;
    steps.extend([step(end, finish("stop")), step(end, usage(7, 96)), step(end, done())]);
    let server = ScriptedServer::start(move |_| Script::ok(steps.clone()));
    let r = run_one(&server, 200);
    assert!(r.ok, "{:?}", r.error);
    assert_eq!((r.tokens.after_last_event, r.tokens.first_event_tokens), (0, Some(3.0)));
    let written = &server.served()[0].written;
    let (span, server_span) = (
        secs(r.t.last_token_ns) - secs(r.t.first_token_ns),
        (written[32] - written[1]).as_secs_f64(),
    );
    assert!(
        (r.metrics.decode_rate.unwrap() * span - 93.0).abs() < 1e-6,
        "{:?} over {span} s",
        r.metrics.decode_rate
    );
    assert!(
        (span - server_span).abs() < 0.010,
        "first-to-last event {span} s, written {server_span} s (one gap apart at most)"
    );
}

/// A connection that takes long to open (the accept queue is full, so the first SYN is dropped)
/// shows in `t.connect_ns`, and the TTFT, counted from the request's first byte on the open
/// connection, is the server's schedule alone.
#[test]
fn a_slow_connect_is_timed_apart_from_the_ttft() {
    let server =
        ScriptedServer::with_slow_connect(ms(50), |_| Script::ok(answer(ms(20), ms(5), 5, Some((3, 5)), "length")));
    let r = run_one(&server, 5);
    assert!(r.ok, "{:?}", r.error);
    let (connect, ttft) = (secs(r.t.connect_ns), r.metrics.ttft_s.unwrap());
    assert!(connect >= 0.050, "connect {connect} s");
    let served = &server.served()[0];
    let first_written = (served.written[1] - served.received).as_secs_f64();
    // TTFT ≥ the server's own (exact); with the connect in it, it would be ≥ 50 ms longer still.
    assert!(
        ttft >= first_written && ttft < first_written + 0.050,
        "ttft {ttft} vs the server's {first_written} (connect {connect})"
    );
}

/// A llama-server whose `predicted_per_second` is 1.3× what its own `predicted_n / predicted_ms`
/// (and our clock) give is flagged, with both numbers kept.
#[test]
fn a_reported_rate_its_own_timings_do_not_give_is_flagged() {
    use quantbench::dialect::{self, DialectOptions, ServerKind};
    // 21 tokens every 10 ms from 20 ms: 100 tokens/s by our clock and by the server's timings.
    let mut steps = answer(ms(20), ms(10), 21, None, "length");
    let timings = serde_json::json!({"prompt_n": 5, "prompt_ms": 15.0, "predicted_n": 21, "predicted_ms": 200.0, "predicted_per_second": 130.0});
    let last = steps.len() - 1;
    steps.insert(
        last,
        step(ms(220), data(serde_json::json!({"choices":[], "timings": timings}))),
    );
    let server = ScriptedServer::start(move |_| Script::ok(steps.clone()));
    let endpoint = quantbench::client::Endpoint {
        base_url: server.url.clone(),
        model_id: "m".into(),
        api_key: None,
        dialect: dialect::for_kind(ServerKind::LlamaServer, DialectOptions::default()),
    };
    let (obs, _) = generate_once(&server.url, 21, &Limits::default());
    let r = record_of(obs, endpoint.dialect.as_ref(), 21);
    assert!(r.ok, "{:?}", r.error);
    let report = r.server.as_ref().unwrap();
    assert_eq!(report.decode_rate, Some(130.0), "the reported number is kept");
    assert!(
        (report.timings_decode_rate.unwrap() - 100.0).abs() < 1e-9,
        "and the timings' own: {report:?}"
    );
    // 130 against 100 (N − 1 tokens) or 105 (N tokens) per second: +24 % at the nearer.
    assert!(
        (report.reported_vs_timings_rel_diff.unwrap() - 130.0 / 105.0 + 1.0).abs() < 0.01,
        "{report:?}"
    );
    assert!(report.reported_vs_ours_rel_diff.unwrap() > 0.2, "{report:?}");
    // Our clock agrees with its timings to within one 10 ms gap over the 200 ms span.
    assert!(
        report.decode_rate_rel_diff.unwrap().abs() < 0.05,
        "our clock agrees with its timings: {report:?}"
    );
    assert!(r.flags.contains(&Flag::ServerDisagrees), "{:?}", r.flags);
}

#[test]
fn a_model_stopping_at_10_of_500_is_an_early_stop() {
    let steps = answer(ms(20), ms(2), 10, Some((5, 10)), "stop");
    let server = ScriptedServer::start(move |_| Script::ok(steps.clone()));
    let r = run_one(&server, 500);
    assert!(r.ok);
    assert!(r.early_stop);
    assert_eq!(r.flags, vec![Flag::EarlyStop]);
    assert_eq!(
        r.tokens.completion,
        Some(10),
        "the requested 500 is never reported as produced"
    );
}

#[test]
fn a_stream_without_usage_is_an_estimate() {
    let steps = answer(ms(5), ms(1), 6, None, "length");
    let server = ScriptedServer::start(move |_| Script::ok(steps.clone()));
    let r = run_one(&server, 6);
    assert!(r.ok);
    assert_eq!(r.tokens.completion_source, Some(CountSource::EventsEstimate));
    assert!(r.flags.contains(&Flag::CompletionEstimated));
}

#[test]
fn a_stream_cut_mid_way_is_a_failed_sample() {
    let steps: Vec<Step> = answer(ms(5), ms(2), 20, Some((5, 20)), "length")
        .into_iter()
        .take(6)
        .collect();
    let server = ScriptedServer::start(move |_| Script {
        status: 200,
        steps: steps.clone(),
        ending: Ending::Cut,
        ..Script::default()
    });
    let r = run_one(&server, 20);
    assert!(!r.ok);
    let error = r.error.unwrap();
    assert!(
        error.contains("stream broken") || error.contains("stream ended"),
        "{error}"
    );
    assert_eq!(r.metrics, Default::default(), "a failed sample has no metrics");
    assert_eq!(r.tokens.token_events, 5, "what arrived is still recorded");
}

#[test]
fn http_errors_and_stalls_are_failed_samples_with_reasons() {
    let server = ScriptedServer::start(|_| Script {
        status: 404,
        steps: vec![step(ms(0), &br#"{"error":{"message":"model 'x' not found"}}"#[..])],
        ..Script::default()
    });
    let r = run_one(&server, 8);
    assert_eq!((r.ok, r.http_status), (false, Some(404)));
    assert_eq!(r.error.as_deref(), Some("HTTP 404: model 'x' not found"));

    let stall = ScriptedServer::start(|_| {
        Script::ok(vec![
            step(ms(0), role()),
            step(ms(5), content("a")),
            step(ms(3000), content("b")),
        ])
    });
    let limits = Limits {
        idle: Duration::from_millis(300),
        ..Limits::default()
    };
    let r = run_with(&stall, 8, &limits);
    assert!(!r.ok);
    assert!(r.error.as_deref().unwrap().contains("no bytes for"), "{:?}", r.error);
}

#[test]
fn an_endless_stream_that_ignores_max_tokens_fails_with_bounded_memory() {
    // 5000 tokens a millisecond apart for max_tokens = 8: cut off after 4 × 8 + 64 events.
    let steps: Vec<Step> = (0..5000u64)
        .map(|i| step(Duration::from_micros(100 * i), content("x ")))
        .collect();
    let server = ScriptedServer::start(move |_| Script::ok(steps.clone()));
    let r = run_one(&server, 8);
    assert!(!r.ok);
    assert!(
        r.error.as_deref().unwrap().contains("ignored max_tokens"),
        "{:?}",
        r.error
    );
    // Events of one network read are counted together, so the cut-off lands a little past the limit.
    assert!(
        (4 * 8 + 64 + 1..200).contains(&r.tokens.token_events),
        "{}",
        r.tokens.token_events
    );
}

#[test]
fn a_redirect_is_a_failed_sample_naming_its_target() {
    let other = ScriptedServer::start(|_| Script::ok(answer(ms(1), ms(1), 4, Some((3, 4)), "length")));
    let target = format!("{}/chat/completions", other.url);
    let location = target.clone();
    let server = ScriptedServer::start(move |_| Script {
        status: 307,
        headers: vec![("location", location.clone())],
        ..Script::default()
    });
    let r = run_one(&server, 8);
    assert_eq!((r.ok, r.http_status), (false, Some(307)));
    let expected = format!(
        "HTTP 307: redirected to {target}; redirects are not followed (configure the URL that serves the model)"
    );
    assert_eq!(r.error.as_deref(), Some(expected.as_str()));
    assert_eq!(
        other.requests.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the redirect was not followed"
    );
}
