//! Real llama-server and mlx_lm.server streams recorded in `fixtures/llama-server/` and
//! `fixtures/mlx-lm/`, replayed through the parser with a synthetic schedule (one event every
//! 10 ms), in pieces that cut events anywhere.

use quantbench::client::{max_token_events, Observation, StreamParser};
use quantbench::dialect::{self, DialectOptions, ServerKind};
use quantbench::record::build::{self, SampleContext};
use quantbench::record::{CountSource, Flag, GenerationRecord};
use std::time::Duration;

fn replay(name: &str, max_tokens: u32, piece: usize) -> GenerationRecord {
    replay_from(ServerKind::LlamaServer, "llama-server", name, max_tokens, piece)
}

fn replay_from(kind: ServerKind, server: &str, name: &str, max_tokens: u32, piece: usize) -> GenerationRecord {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(server)
        .join(name);
    let bytes = std::fs::read(&path).unwrap();
    let mut parser = StreamParser::new(
        Observation {
            http_status: Some(200),
            ..Default::default()
        },
        1 << 20,
        max_token_events(max_tokens),
    );
    let mut events_seen = 0;
    for chunk in bytes.chunks(piece) {
        events_seen += chunk.windows(2).filter(|w| w == b"\n\n").count();
        parser.push(chunk, Duration::from_millis(10 * events_seen as u64));
    }
    parser.end_of_body(Duration::from_millis(10 * events_seen as u64 + 1));
    let ctx = SampleContext {
        run: "fixture",
        model: "smollm2",
        quant: "q4_1",
        category: "short",
        prompt_id: name,
        sample: 0,
        warmup: false,
        started_at: String::new(),
        max_tokens,
        pair: None,
    };
    build::to_record(
        &ctx,
        parser.finish(),
        dialect::for_kind(kind, DialectOptions::default()).as_ref(),
    )
}

#[test]
fn a_stream_that_stops_on_its_own() {
    for piece in [7, 100, 1 << 20] {
        let r = replay("chat-stream-stop.sse", 64, piece);
        assert!(r.ok, "{:?}", r.error);
        assert_eq!(
            (r.tokens.completion, r.tokens.completion_source),
            (Some(39), Some(CountSource::Usage))
        );
        assert_eq!((r.tokens.prompt, r.tokens.prompt_cached), (Some(37), Some(0)));
        assert_eq!(
            r.tokens.token_events, 38,
            "the role chunk, finish and usage chunks carry no text"
        );
        assert_eq!(
            r.tokens.after_last_event, 1,
            "the end-of-generation token is counted, not streamed"
        );
        assert_eq!(r.finish_reason.as_deref(), Some("stop"));
        assert!(r.early_stop && r.flags.contains(&Flag::EarlyStop));
        let server = r.server.as_ref().unwrap();
        assert_eq!(
            (server.predicted_n, server.prompt_n, server.cache_n),
            (Some(39), Some(37), Some(0))
        );
        assert!((server.decode_rate.unwrap() - 138.905_642_858_970_57).abs() < 1e-9);
        assert!(r.output.content.len() > 50 && r.output.reasoning.is_empty());
    }
}

#[test]
fn a_stream_cut_by_max_tokens() {
    let r = replay("chat-stream-length.sse", 24, 64);
    assert!(r.ok, "{:?}", r.error);
    assert_eq!(
        (r.tokens.completion, r.tokens.token_events, r.tokens.after_last_event),
        (Some(24), 24, 0)
    );
    assert_eq!(r.finish_reason.as_deref(), Some("length"));
    assert!(!r.early_stop);
    // One event every 10 ms on the synthetic schedule: 100 tokens per second.
    assert!(
        (r.metrics.decode_rate.unwrap() - 100.0).abs() < 1e-6,
        "{:?}",
        r.metrics.decode_rate
    );
}

#[test]
fn an_mlx_stream_that_stops_counts_the_unstreamed_end_token() {
    for piece in [5, 100, 1 << 20] {
        let r = replay_from(ServerKind::MlxLm, "mlx-lm", "chat-stream-stop.sse", 64, piece);
        assert!(r.ok, "{:?}", r.error);
        // mlx-lm's completion_tokens counts the end token, which has no text and no event.
        assert_eq!(
            (r.tokens.completion, r.tokens.completion_source),
            (Some(23), Some(CountSource::Usage))
        );
        assert_eq!(
            r.tokens.token_events, 22,
            "keep-alive comments, the finish and usage chunks carry no text"
        );
        assert_eq!(r.tokens.after_last_event, 1);
        assert_eq!((r.tokens.prompt, r.tokens.prompt_cached), (Some(37), Some(0)));
        assert_eq!(r.finish_reason.as_deref(), Some("stop"));
        assert!(r.early_stop);
        assert!(
            r.server.is_none(),
            "mlx_lm.server reports no timings: nothing to cross-check, nothing invented"
        );
        assert!(
            r.output.content.starts_with("Quantum computing is") && r.output.content.ends_with("architectures."),
            "{:?}",
            r.output.content
        );
    }
}

#[test]
fn an_mlx_stream_cut_by_max_tokens() {
    let r = replay_from(ServerKind::MlxLm, "mlx-lm", "chat-stream-length.sse", 12, 64);
    assert!(r.ok, "{:?}", r.error);
    assert_eq!(
        (r.tokens.completion, r.tokens.token_events, r.tokens.after_last_event),
        (Some(12), 12, 0)
    );
    assert_eq!(r.finish_reason.as_deref(), Some("length"));
    assert!(!r.early_stop && r.flags.is_empty(), "{:?}", r.flags);
    // The header and keep-alive comments come before the first token and do not stop the TTFT
    // clock; on the schedule, 11 intervals of 10 ms follow it: 100 tokens per second.
    assert!(r.t.first_token_ns.unwrap() >= 30_000_000, "{:?}", r.t.first_token_ns);
    assert!(
        (r.metrics.decode_rate.unwrap() - 100.0).abs() < 1e-6,
        "{:?}",
        r.metrics.decode_rate
    );
}
