//! Checks before anything is measured: the machine's state (pre-flight), and that external
//! endpoints answer and have their API keys.

use crate::client;
use crate::config::{Group, Target};
use crate::dialect::ServerKind;
use crate::machine_state;
use anyhow::{bail, Result};
use std::time::Duration;

/// Watches the machine before measuring and says what would distort the numbers; with
/// `QUANTBENCH_STRICT=1` a warning refuses the run.
pub fn check_machine() -> Result<machine_state::Preflight> {
    let check = machine_state::preflight();
    for w in &check.warnings {
        eprintln!("quantbench: pre-flight: {w}");
    }
    if machine_state::strict() && !check.warnings.is_empty() {
        bail!(
            "{}=1 and the pre-flight check warned ({}); nothing was measured",
            machine_state::STRICT_ENV,
            check.warnings.join("; ")
        );
    }
    Ok(check)
}

/// Checks external endpoints answer and their API keys are set, before anything is measured.
pub async fn preflight(groups: &[&Group], http: &reqwest::Client) -> Result<()> {
    let mut problems = Vec::new();
    for g in groups {
        let Target::External {
            url, kind, api_key_env, ..
        } = &g.target
        else {
            continue;
        };
        if let Some(var) = api_key_env {
            if std::env::var(var).map_or(true, |v| v.is_empty()) {
                problems.push(format!("{}: the API key variable {var} is not set", g.name));
                continue;
            }
        }
        let models = format!("{url}/models");
        if let Err(e) = http.get(&models).timeout(Duration::from_secs(5)).send().await {
            problems.push(format!(
                "{}: no {} server answers at {url} ({}).\n    {}",
                g.name,
                crate::util::serde_name(kind),
                client::error_chain(&e),
                start_hint(*kind, url)
            ));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    bail!(
        "no usable endpoint, nothing was measured:\n  {}\n  To run only the built-in reference endpoint instead: cargo bench --bench llm -- smollm2",
        problems.join("\n  ")
    )
}

fn start_hint(kind: ServerKind, url: &str) -> String {
    match kind {
        ServerKind::Lmstudio => {
            "Start LM Studio's server and load the model: `lms server start --port 1234` then `lms load <model>`."
                .into()
        }
        ServerKind::LlamaServer => {
            format!("Start it: `llama-server -m <model.gguf> --port <port>` so that {url} answers.")
        }
        ServerKind::MlxLm => format!("Start it: `mlx_lm.server --model <model> --port <port>` so that {url} answers."),
        ServerKind::VllmMlx => format!("Start it: `vllm-mlx serve <model> --port <port>` so that {url} answers."),
        ServerKind::Ollama => "Start it: `ollama serve` (and `ollama pull <model>`).".into(),
        ServerKind::Vllm => format!("Start it: `vllm serve <model> --port <port>` so that {url} answers."),
        ServerKind::Openai => format!("Start the server so that {url} answers, or fix the url in the config."),
    }
}
