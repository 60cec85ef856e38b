//! The fidelity pass over the network: the reference's greedy answers, then each group forced
//! along them (see the module above). One prompt's failure is recorded with its reason and the
//! pass goes on.

use super::{summarize, Forcing, GroupFidelity, PromptFidelity};
use crate::client::{self, Endpoint};
use crate::dialect::Step;
use crate::dialect::{JsonCall, Rendered, TokenScoring};
use crate::prompts::Prompt;
use anyhow::{bail, Context, Result};
use std::time::Duration;

/// How much of each answer is compared, and how much of each distribution.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PassSettings {
    pub tokens: u32,
    pub top_k: u32,
    /// Per request.
    pub timeout: Duration,
}

/// The reference's greedy answer to each prompt (or why there is none).
pub struct ReferenceAnswers {
    pub group: String,
    answers: Vec<(String, Result<ReferenceAnswer, String>)>,
}

struct ReferenceAnswer {
    prompt_tokens: Vec<u32>,
    steps: Vec<Step>,
}

impl ReferenceAnswers {
    fn get(&self, prompt: &str) -> Result<&ReferenceAnswer, String> {
        match self.answers.iter().find(|(id, _)| id == prompt) {
            Some((_, Ok(answer))) => Ok(answer),
            Some((_, Err(e))) => Err(format!("the reference has no answer: {e}")),
            None => Err("the reference did not run this prompt".into()),
        }
    }
}

/// The reference group's pass: its answers, and its own figures forced along them (the noise
/// floor of the server's numerics; 0 and full agreement on a deterministic server).
pub async fn reference(
    http: &reqwest::Client,
    endpoint: &Endpoint,
    group: &str,
    prompts: &[&Prompt],
    settings: PassSettings,
) -> (ReferenceAnswers, GroupFidelity) {
    let mut answers = ReferenceAnswers {
        group: group.into(),
        answers: Vec::new(),
    };
    let mut result = empty(group, group, settings);
    let scoring = match endpoint.dialect.token_scoring() {
        Ok(s) => s,
        Err(reason) => {
            result.unavailable = Some(reason.into());
            return (answers, result);
        }
    };
    for prompt in prompts {
        let answer = answer(http, endpoint, scoring, prompt, settings).await;
        let measured = match &answer {
            Ok(a) => force(http, endpoint, scoring, prompt, &a.prompt_tokens, &a.steps, settings).await,
            Err(e) => PromptFidelity::failed(&prompt.id, &prompt.category, format!("{e:#}")),
        };
        result.prompts.push(measured);
        answers
            .answers
            .push((prompt.id.clone(), answer.map_err(|e| format!("{e:#}"))));
    }
    result.summary = summarize(&result.prompts);
    (answers, result)
}

/// A group's pass against the reference's answers.
pub async fn compare(
    http: &reqwest::Client,
    endpoint: &Endpoint,
    group: &str,
    prompts: &[&Prompt],
    reference: &ReferenceAnswers,
    settings: PassSettings,
) -> GroupFidelity {
    let mut result = empty(group, &reference.group, settings);
    let scoring = match endpoint.dialect.token_scoring() {
        Ok(s) => s,
        Err(reason) => {
            result.unavailable = Some(reason.into());
            return result;
        }
    };
    for prompt in prompts {
        let measured = match reference.get(&prompt.id) {
            Err(e) => PromptFidelity::failed(&prompt.id, &prompt.category, e),
            Ok(answer) => match prompt_tokens(http, endpoint, scoring, prompt, settings).await {
                Err(e) => PromptFidelity::failed(&prompt.id, &prompt.category, format!("{e:#}")),
                Ok(tokens) if tokens != answer.prompt_tokens => PromptFidelity::failed(
                    &prompt.id,
                    &prompt.category,
                    format!("the prompt tokenizes differently from the reference's ({} vs {} tokens): a different tokenizer or chat template, so the two cannot be compared token by token", tokens.len(), answer.prompt_tokens.len()),
                ),
                Ok(tokens) => force(http, endpoint, scoring, prompt, &tokens, &answer.steps, settings).await,
            },
        };
        result.prompts.push(measured);
    }
    result.summary = summarize(&result.prompts);
    result
}

/// One of the scoring dialect's requests.
async fn call(
    http: &reqwest::Client,
    endpoint: &Endpoint,
    request: &JsonCall,
    settings: PassSettings,
) -> Result<serde_json::Value> {
    client::native_json(
        http,
        endpoint.server_root(),
        endpoint.api_key.as_deref(),
        &request.path,
        Some(&request.body),
        settings.timeout,
    )
    .await
}

/// A group result for a pass that could not run, and why.
pub fn unavailable(group: &str, reference: &str, settings: PassSettings, reason: String) -> GroupFidelity {
    GroupFidelity {
        unavailable: Some(reason),
        ..empty(group, reference, settings)
    }
}

/// A group result with nothing measured yet.
fn empty(group: &str, reference: &str, settings: PassSettings) -> GroupFidelity {
    GroupFidelity {
        group: group.into(),
        reference: reference.into(),
        tokens: settings.tokens,
        top_k: settings.top_k,
        unavailable: None,
        prompts: Vec::new(),
        summary: None,
    }
}

/// The prompt's token ids, rendered by the server's chat template.
async fn prompt_tokens(
    http: &reqwest::Client,
    endpoint: &Endpoint,
    scoring: &dyn TokenScoring,
    prompt: &Prompt,
    settings: PassSettings,
) -> Result<Vec<u32>> {
    let rendered = call(
        http,
        endpoint,
        &scoring.render_request(&endpoint.model_id, &prompt.messages, None),
        settings,
    )
    .await?;
    let tokens = match scoring.parse_render(&rendered)? {
        Rendered::Tokens(tokens) => tokens,
        Rendered::Text(text) => {
            let request = scoring.tokenize_request(&endpoint.model_id, &text);
            scoring.parse_tokens(&call(http, endpoint, &request, settings).await?)?
        }
    };
    if tokens.is_empty() {
        bail!("the prompt tokenized to nothing");
    }
    Ok(tokens)
}

/// The greedy answer (stopping at the end-of-generation token, which is kept as a step).
async fn answer(
    http: &reqwest::Client,
    endpoint: &Endpoint,
    scoring: &dyn TokenScoring,
    prompt: &Prompt,
    settings: PassSettings,
) -> Result<ReferenceAnswer> {
    let prompt_tokens = prompt_tokens(http, endpoint, scoring, prompt, settings).await?;
    let request = scoring.continue_request(
        &endpoint.model_id,
        &prompt_tokens,
        settings.tokens,
        settings.top_k,
        false,
    );
    let steps = scoring.parse_continuation(&call(http, endpoint, &request, settings).await?)?;
    if steps.is_empty() {
        bail!("the reference generated no tokens");
    }
    let steps = steps.into_iter().take(settings.tokens as usize).collect();
    Ok(ReferenceAnswer { prompt_tokens, steps })
}

/// Teacher forcing along `reference` (see [`Forcing`]); past end-of-generation tokens, so that
/// a model that would stop early is still scored on the reference's context.
async fn force(
    http: &reqwest::Client,
    endpoint: &Endpoint,
    scoring: &dyn TokenScoring,
    prompt: &Prompt,
    prompt_tokens: &[u32],
    reference: &[Step],
    settings: PassSettings,
) -> PromptFidelity {
    let mut forcing = Forcing::new(reference);
    while let Some((at, steps)) = forcing.next() {
        let context: Vec<u32> = prompt_tokens
            .iter()
            .copied()
            .chain(reference[..at].iter().map(|s| s.token))
            .collect();
        let request = scoring.continue_request(&endpoint.model_id, &context, steps, settings.top_k, true);
        let absorbed =
            async { forcing.absorb(&scoring.parse_continuation(&call(http, endpoint, &request, settings).await?)?) }
                .await
                .with_context(|| format!("at position {at}"));
        if let Err(e) = absorbed {
            return PromptFidelity::failed(&prompt.id, &prompt.category, format!("{e:#}"));
        }
    }
    forcing.finish(&prompt.id, &prompt.category, prompt_tokens.len())
}
