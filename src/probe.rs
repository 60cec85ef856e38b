//! `quantbench probe URL`: what an endpoint supports, found by trying it — usage in streams,
//! where reasoning arrives, fixed-length decoding, logprobs, server timings — and the config
//! entry to benchmark it. Every check sends a short real request; nothing is assumed from the
//! server kind alone.

use crate::client::{self, Endpoint, GenerationRequest, Limits, Sampling};
use crate::config;
use crate::dialect::{self, DialectOptions, ServerKind};
use crate::prompts::Message;
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::time::Duration;

/// Tokens asked for in the fixed-length check (of a prompt that wants a much shorter answer).
const FIXED_LENGTH_TOKENS: u32 = 24;
/// Bounds for every probe request.
const PROBE_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Clone, Debug, PartialEq)]
pub enum Support {
    Yes(String),
    No(String),
    /// Could not tell (e.g. the model did not reason, the request failed).
    Unknown(String),
}

#[derive(Clone, Debug)]
pub struct FeatureCheck {
    pub name: &'static str,
    pub support: Support,
}

#[derive(Clone, Debug)]
pub struct ProbeReport {
    pub base_url: String,
    pub kind: ServerKind,
    /// How the kind was chosen: given, or what answered.
    pub kind_reason: String,
    pub model_id: String,
    pub checks: Vec<FeatureCheck>,
}

impl ProbeReport {
    pub fn supports(&self, name: &str) -> bool {
        self.checks
            .iter()
            .any(|c| c.name == name && matches!(c.support, Support::Yes(_)))
    }

    /// A plain-text report followed by the suggested config entry.
    pub fn text(&self) -> String {
        let mut out = format!(
            "endpoint {}\nkind     {} ({})\nmodel    {}\n\n",
            self.base_url,
            self.kind.name(),
            self.kind_reason,
            self.model_id
        );
        for c in &self.checks {
            let (mark, detail) = match &c.support {
                Support::Yes(d) => ("yes", d),
                Support::No(d) => ("no ", d),
                Support::Unknown(d) => ("?  ", d),
            };
            let _ = writeln!(out, "  {mark}  {:<24} {detail}", c.name);
        }
        let _ = write!(out, "\nsuggested config entry:\n\n{}", self.config_entry());
        out
    }

    pub fn config_entry(&self) -> String {
        // The model's own name: the last part of an id that may be a path, without `.gguf`.
        let last = self.model_id.rsplit(['/', '\\']).next().unwrap_or(&self.model_id);
        let last = last.strip_suffix(".gguf").unwrap_or(last).to_lowercase();
        let name: String = last
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "_-".contains(c) {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let name = Some(name.trim_matches('-'))
            .filter(|n| !n.is_empty())
            .unwrap_or("model");
        let mut entry = format!(
            "[models.{name:?}]\ndefault = false\nendpoint = {{ url = {:?}, kind = {:?} }}\n\n[models.{name:?}.quants.default]\nmodel_id = {:?}\n",
            self.base_url,
            self.kind.name(),
            self.model_id
        );
        if self.supports("fixed-length decoding") {
            entry.push_str("# generates exactly max_tokens when asked:\n# run = { fixed_length = true }\n");
        }
        entry
    }
}

/// Probes the endpoint at `url`; `kind` and `model` when known, else found out.
pub async fn probe(
    http: &reqwest::Client,
    url: &str,
    kind: Option<ServerKind>,
    model: Option<String>,
) -> Result<ProbeReport> {
    let base_url = config::normalize_url(url).with_context(|| format!("endpoint url {url:?}"))?;
    let root = base_url.strip_suffix("/v1").unwrap_or(&base_url).to_owned();
    let models = get_json(http, &format!("{base_url}/models"))
        .await
        .with_context(|| format!("no OpenAI-compatible server answers at {base_url}/models"))?;
    let model_id = match model {
        Some(m) => m,
        None => models
            .pointer("/data/0/id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .context("the server lists no model; name one with --model")?,
    };
    let (kind, kind_reason) = match kind {
        Some(k) => (k, "given".to_owned()),
        None => detect_kind(http, &root).await,
    };
    let endpoint = |options: DialectOptions| Endpoint {
        base_url: base_url.clone(),
        model_id: model_id.clone(),
        api_key: None,
        dialect: dialect::for_kind(kind, options),
    };

    let mut checks = Vec::new();
    let plain = raw_stream(http, &base_url, &model_id, json!({})).await;
    checks.push(FeatureCheck {
        name: "usage in streams",
        support: match &plain {
            Ok(body) if body.contains("\"usage\":{") => {
                Support::Yes("stream_options.include_usage is honoured: counts come from the server".into())
            }
            Ok(_) => Support::No("no usage in the stream: counts will be estimates from stream events".into()),
            Err(e) => Support::Unknown(format!("{e:#}")),
        },
    });
    checks.push(FeatureCheck {
        name: "reasoning field",
        support: reasoning_field(http, &base_url, &model_id).await,
    });
    let timed = client::generate(
        http,
        &endpoint(DialectOptions::default()),
        &request(&short_prompt(), 8),
        &limits(),
    )
    .await;
    checks.push(FeatureCheck {
        name: "server timings",
        support: match (
            &timed.error,
            endpoint(DialectOptions::default()).dialect.server_report(&timed),
        ) {
            (None, Some(report)) => Support::Yes(format!("{} (cross-checked per generation)", report.source)),
            (None, None) => Support::No(format!(
                "the {} dialect finds no per-generation stats here",
                kind.name()
            )),
            (Some(e), _) => Support::Unknown(format!("the request failed: {e}")),
        },
    });
    let fixed = endpoint(DialectOptions {
        fixed_length: true,
        ..DialectOptions::default()
    });
    let forced = client::generate(http, &fixed, &request(&short_prompt(), FIXED_LENGTH_TOKENS), &limits()).await;
    let produced = forced
        .usage
        .as_ref()
        .and_then(|u| u.completion_tokens)
        .or(forced.timings.as_ref().and_then(|t| t.predicted_n));
    checks.push(FeatureCheck {
        name: "fixed-length decoding",
        support: match (&forced.error, produced) {
            (Some(e), _) => Support::Unknown(format!("the request failed: {e}")),
            (None, Some(n)) if n == u64::from(FIXED_LENGTH_TOKENS) => Support::Yes(format!("asked for {FIXED_LENGTH_TOKENS} tokens of a one-word answer, got {n}")),
            (None, Some(n)) if !fixed.dialect.forces_length() => Support::No(format!("stopped at {n} of {FIXED_LENGTH_TOKENS}: the {} dialect has no way to force it (set eos_token_ids for logit_bias where the server has it)", kind.name())),
            (None, Some(n)) => Support::No(format!("stopped at {n} of {FIXED_LENGTH_TOKENS}: the server ignored the request")),
            (None, None) => Support::Unknown("the server reported no count".into()),
        },
    });
    checks.push(FeatureCheck {
        name: "logprobs",
        support: match raw_stream(http, &base_url, &model_id, json!({"logprobs": true, "top_logprobs": 1})).await {
            Ok(body) if body.contains("\"logprobs\":{") => Support::Yes("streamed per token".into()),
            Ok(_) => Support::No("not in the stream".into()),
            Err(e) => Support::No(format!("refused: {e:#}")),
        },
    });
    Ok(ProbeReport {
        base_url,
        kind,
        kind_reason,
        model_id,
        checks,
    })
}

/// Guesses the server kind from the endpoints only it has.
async fn detect_kind(http: &reqwest::Client, root: &str) -> (ServerKind, String) {
    if get_json(http, &format!("{root}/props"))
        .await
        .is_ok_and(|v| v.get("build_info").is_some())
    {
        return (ServerKind::LlamaServer, "/props answers with build_info".into());
    }
    if get_json(http, &format!("{root}/api/v0/models")).await.is_ok() {
        return (ServerKind::Lmstudio, "/api/v0/models answers".into());
    }
    if get_json(http, &format!("{root}/api/version"))
        .await
        .is_ok_and(|v| v.get("version").is_some())
    {
        return (ServerKind::Ollama, "/api/version answers".into());
    }
    if let Ok(metrics) = get_text(http, &format!("{root}/metrics")).await {
        if metrics.contains("vllm_mlx_") {
            return (ServerKind::VllmMlx, "/metrics has vllm_mlx_ series".into());
        }
        if metrics.contains("vllm:") {
            return (ServerKind::Vllm, "/metrics has vllm: series".into());
        }
    }
    (
        ServerKind::Openai,
        "no server-specific endpoint answered (mlx_lm.server looks like this too; pass --kind mlx-lm)".into(),
    )
}

/// Which field reasoning arrives in, from a raw stream of a question that invites thinking.
async fn reasoning_field(http: &reqwest::Client, base_url: &str, model_id: &str) -> Support {
    let messages = [Message::text("user", "Think step by step, briefly: what is 17 + 25?")];
    let body = match raw_stream(
        http,
        base_url,
        model_id,
        json!({ "messages": messages, "max_tokens": 64 }),
    )
    .await
    {
        Ok(body) => body,
        Err(e) => return Support::Unknown(format!("{e:#}")),
    };
    let non_empty = |key: &str| {
        body.contains(&format!("\"{key}\":\""))
            && !body
                .split(&format!("\"{key}\":\""))
                .skip(1)
                .all(|rest| rest.starts_with('"'))
    };
    if non_empty("reasoning_content") {
        Support::Yes("delta.reasoning_content".into())
    } else if non_empty("reasoning") {
        Support::Yes("delta.reasoning".into())
    } else if body.contains("</think>") {
        Support::Yes("inline <think>…</think> in content (split out and counted)".into())
    } else {
        Support::Unknown("no reasoning seen: the model did not reason (or does not)".into())
    }
}

fn short_prompt() -> Vec<Message> {
    vec![Message::text("user", "Reply with one word: hello.")]
}

fn request(messages: &[Message], max_tokens: u32) -> GenerationRequest<'_> {
    static SAMPLING: Sampling = Sampling {
        temperature: 0.0,
        top_p: 1.0,
        seed: Some(42),
    };
    GenerationRequest {
        messages,
        max_tokens,
        sampling: &SAMPLING,
        tools: None,
    }
}

fn limits() -> Limits {
    Limits {
        idle: PROBE_TIMEOUT,
        total: PROBE_TIMEOUT,
        ..Limits::default()
    }
}

/// The whole body of a streamed chat completion, as text; `extra` overrides or adds fields.
async fn raw_stream(http: &reqwest::Client, base_url: &str, model_id: &str, extra: Value) -> Result<String> {
    let mut body = json!({
        "model": model_id,
        "messages": short_prompt(),
        "max_tokens": 8,
        "stream": true,
        "stream_options": {"include_usage": true},
        "temperature": 0.0,
    });
    for (k, v) in extra.as_object().into_iter().flatten() {
        body[k] = v.clone();
    }
    let response = http
        .post(format!("{base_url}/chat/completions"))
        .json(&body)
        .timeout(PROBE_TIMEOUT)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!(client::error_chain(&e)))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| anyhow::anyhow!(client::error_chain(&e)))?;
    if !status.is_success() {
        bail!("HTTP {}: {}", status.as_u16(), client::chunk::error_message(&text));
    }
    Ok(text)
}

async fn get_text(http: &reqwest::Client, url: &str) -> Result<String> {
    let response = http
        .get(url)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .map_err(|e| anyhow::anyhow!(client::error_chain(&e)))?;
    let response = response.error_for_status()?;
    Ok(response.text().await?)
}

async fn get_json(http: &reqwest::Client, url: &str) -> Result<Value> {
    Ok(serde_json::from_str(&get_text(http, url).await?)?)
}
