//! Against the real MLX reference endpoint: mlx_lm.server (mlx-lm with MLX's CPU backend) serving
//! SmolLM2 converted from the GGUF the llama.cpp reference serves. Installs both on first use
//! (`.ci/run` does it first). MLX on this CPU makes a few tokens per second: generations are short.

mod support;

use quantbench::client::{self, Endpoint, GenerationRequest, Limits, Observation, Sampling};
use quantbench::dialect::{self, DialectOptions, ServerKind};
use quantbench::managed::{self, ManagedServer};
use quantbench::prompts::Message;
use quantbench::record::CountSource;
use quantbench::reference::{self, mlx};
use std::path::Path;
use support::*;

const GREEDY_TOKENS: u32 = 16;

/// The short and code prompts of prompts/standard.json (English), and one the model ends itself
/// (7 tokens, the end token included).
const PROMPTS: &[&str] = &[
    "Explain quantum computing in one sentence.",
    "Write a quicksort algorithm in Python, with comments.",
    "What is 2+2? Answer with one word.",
];

fn greedy(
    rt: &tokio::runtime::Runtime,
    http: &reqwest::Client,
    endpoint: &Endpoint,
    prompt: &str,
    max_tokens: u32,
) -> Observation {
    let messages = [Message::text("user", prompt)];
    let sampling = Sampling {
        temperature: 0.0,
        top_p: 1.0,
        seed: None,
    };
    let request = GenerationRequest {
        messages: &messages,
        max_tokens,
        sampling: &sampling,
        tools: None,
    };
    let obs = rt.block_on(client::generate(http, endpoint, &request, &Limits::default()));
    assert!(
        obs.error.is_none(),
        "{prompt:?} on {}: {:?}",
        endpoint.base_url,
        obs.error
    );
    obs
}

/// Token ids of `text` from llama-server's tokenizer (the GGUF's own, in llama.cpp).
fn llama_tokens(rt: &tokio::runtime::Runtime, http: &reqwest::Client, base_url: &str, text: &str) -> Vec<u64> {
    let url = format!("{}/tokenize", base_url.trim_end_matches("/v1"));
    let body = serde_json::json!({ "content": text, "add_special": false, "parse_special": true });
    let answer: serde_json::Value =
        rt.block_on(async { http.post(&url).json(&body).send().await.unwrap().json().await.unwrap() });
    answer["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_u64().unwrap())
        .collect()
}

/// Token ids of `text` from the converted tokenizer.json, as mlx_lm.server loads it.
fn mlx_tokens(manifest: &mlx::MlxManifest, model_dir: &Path, text: &str) -> Vec<u64> {
    let code = "import json, sys\nfrom transformers import AutoTokenizer\n\
                t = AutoTokenizer.from_pretrained(sys.argv[1])\nprint(json.dumps(t.encode(sys.argv[2], add_special_tokens=False)))";
    let out = std::process::Command::new(&manifest.python)
        .args(["-c", code])
        .arg(model_dir)
        .arg(text)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn greedy_output_equals_llama_servers_for_the_first_16_tokens() {
    let llama = reference::ensure_installed(&|m| eprintln!("{m}")).expect("reference install");
    let mlx_manifest = mlx::ensure_installed(&|m| eprintln!("{m}")).expect("MLX reference install");
    let tmp = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let http = client::http_client().unwrap();
    let options = DialectOptions::default();

    let port = managed::free_port().unwrap();
    let spec = reference::launch_spec(&llama, "q4_1", port, 2, tmp.path().join("llama.log")).unwrap();
    let llama_server = rt
        .block_on(ManagedServer::start(&spec, &http))
        .expect("llama-server starts");
    let llama_endpoint = Endpoint {
        base_url: llama_server.base_url.clone(),
        model_id: "smollm2".into(),
        api_key: None,
        dialect: dialect::for_kind(ServerKind::LlamaServer, options.clone()),
    };

    let port = managed::free_port().unwrap();
    let spec = mlx::launch_spec(&mlx_manifest, "mlx-4bit", port, false, tmp.path().join("mlx.log")).unwrap();
    let mlx_server = rt
        .block_on(ManagedServer::start(&spec, &http))
        .expect("mlx_lm.server starts");
    let mlx_endpoint = Endpoint {
        base_url: mlx_server.base_url.clone(),
        model_id: mlx::SERVED_MODEL_ID.into(),
        api_key: None,
        dialect: dialect::for_kind(
            ServerKind::MlxLm,
            DialectOptions {
                server_cache_off: true,
                ..options
            },
        ),
    };
    let model_dir = &mlx_manifest.model("mlx-4bit").unwrap().path;

    for prompt in PROMPTS {
        let ours = greedy(&rt, &http, &mlx_endpoint, prompt, GREEDY_TOKENS);
        let theirs = greedy(&rt, &http, &llama_endpoint, prompt, GREEDY_TOKENS);
        let (ours_usage, theirs_usage) = (ours.usage.as_ref().unwrap(), theirs.usage.as_ref().unwrap());
        // Same prompt tokens: the converted tokenizer and chat template render what llama.cpp does.
        assert_eq!(ours_usage.prompt_tokens, theirs_usage.prompt_tokens, "{prompt:?}");
        // Same generated tokens: the same count (mlx-lm's includes an end token, as llama-server's
        // does), the same end, and the same text — and the two tokenizers, both rebuilt from the
        // GGUF, split that text into the same ids, so equal text of equal length is equal tokens.
        assert_eq!(
            ours_usage.completion_tokens, theirs_usage.completion_tokens,
            "{prompt:?}"
        );
        assert_eq!(ours.finish_reason, theirs.finish_reason, "{prompt:?}");
        assert_eq!(
            ours.output.content, theirs.output.content,
            "{prompt:?}: MLX vs llama-server greedy output"
        );
        let text = &ours.output.content;
        assert_eq!(
            mlx_tokens(&mlx_manifest, model_dir, text),
            llama_tokens(&rt, &http, &llama_endpoint.base_url, text),
            "{prompt:?}: tokenizers disagree on {text:?}"
        );
    }
    drop((llama_server, mlx_server));
}

#[test]
fn a_bench_through_the_suite_keeps_ok_records_counted_by_usage() {
    mlx::ensure_installed(&|m| eprintln!("{m}")).expect("MLX reference install");
    let tmp = tempfile::tempdir().unwrap();
    let body = "[run]\nsamples = 10\nwarmup = 1\nlanguages = [\"en\"]\ncategories = [\"short\"]\nmax_tokens_cap = 8\n\
                [models.smollm2]\nreference = \"mlx-lm\"\nquants.mlx-4bit = {}\n";
    let cfg = config(tmp.path(), body);
    let outcome = run_suite(tmp.path(), &cfg, "--bench smollm2/mlx-4bit").unwrap();
    assert!(outcome.abandoned.is_empty(), "{:?}", outcome.abandoned);
    let run_dir = outcome.run_dir.unwrap();
    let records = quantbench::store::read_records(&run_dir.join("generations.jsonl")).unwrap();
    assert_eq!(records.len(), 11);
    for r in &records {
        assert!(r.ok, "{:?}", r.error);
        assert_eq!(r.tokens.completion_source, Some(CountSource::Usage));
        assert_eq!(r.tokens.prompt_source, Some(CountSource::Usage));
        assert_eq!(
            r.tokens.prompt_cached,
            Some(0),
            "no prompt cache: every sample pays its prefill"
        );
        let n = r.tokens.completion.unwrap();
        // mlx-lm counts the end token it never streams: with a model stop, one token more than
        // the text events; at the length limit, none.
        match r.finish_reason.as_deref() {
            Some("stop") => assert_eq!((r.tokens.after_last_event, n), (1, r.tokens.token_events + 1), "{r:?}"),
            _ => assert_eq!(
                (r.finish_reason.as_deref(), r.tokens.after_last_event, n),
                (Some("length"), 0, 8),
                "{r:?}"
            ),
        }
        assert!(
            r.server.is_none(),
            "mlx_lm.server reports no timings over HTTP: nothing to cross-check"
        );
        assert!(r.metrics.ttft_s.is_some());
    }
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("metadata.json")).unwrap()).unwrap();
    let group = &meta["groups"][0];
    assert_eq!(group["model_id"], mlx::SERVED_MODEL_ID);
    assert!(group["load_time_s"].as_f64().unwrap() > 0.0);
    assert_eq!(group["server_info"]["mlx_lm"], mlx::MLX_LM_VERSION);
    assert_eq!(meta["reference_mlx"]["mlx"], mlx::MLX_VERSION);
    assert!(
        meta["reference"].is_null(),
        "the llama.cpp reference is not needed for an MLX group"
    );
}
