//! The parts of an OpenAI-style streamed chunk that the measurement needs, parsed borrowing from
//! the event's bytes (no copies of the text unless it contains escapes).

use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

#[derive(Debug, Default, Deserialize)]
pub struct Chunk<'a> {
    #[serde(default, borrow)]
    pub choices: Vec<Choice<'a>>,
    #[serde(default)]
    pub usage: Option<Usage>,
    /// llama-server's own timings (on the last chunk, or every chunk with `timings_per_token`).
    #[serde(default)]
    pub timings: Option<LlamaTimings>,
    /// Some servers report a failure in-band, as an `error` object inside the stream.
    #[serde(default, borrow)]
    pub error: Option<&'a RawValue>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Choice<'a> {
    #[serde(default, borrow)]
    pub delta: Option<Delta<'a>>,
    #[serde(default, borrow)]
    pub finish_reason: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Delta<'a> {
    #[serde(default, borrow)]
    pub content: Option<Cow<'a, str>>,
    /// DeepSeek-style reasoning field (llama-server, LM Studio, vllm-mlx).
    #[serde(default, borrow)]
    pub reasoning_content: Option<Cow<'a, str>>,
    /// Newer reasoning field (vLLM, mlx-lm, Ollama's `/v1`, LM Studio for gpt-oss).
    #[serde(default, borrow)]
    pub reasoning: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub tool_calls: Option<&'a RawValue>,
}

impl Delta<'_> {
    /// Reasoning text, whichever field the server used.
    pub fn reasoning_text(&self) -> Option<&str> {
        [&self.reasoning_content, &self.reasoning]
            .into_iter()
            .flatten()
            .map(|s| s.as_ref())
            .find(|s| !s.is_empty())
    }

    pub fn content_text(&self) -> Option<&str> {
        self.content.as_deref().filter(|s| !s.is_empty())
    }

    /// A tool-call delta carries generated text unless it is an empty list.
    pub fn has_tool_calls(&self) -> bool {
        self.tool_calls
            .is_some_and(|raw| !matches!(raw.get().trim(), "null" | "[]"))
    }
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Usage {
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    #[serde(default)]
    pub completion_tokens_details: Option<CompletionDetails>,
    #[serde(default)]
    pub prompt_tokens_details: Option<PromptDetails>,
}

impl Usage {
    pub fn reasoning_tokens(&self) -> Option<u64> {
        self.completion_tokens_details.as_ref().and_then(|d| d.reasoning_tokens)
    }

    pub fn cached_tokens(&self) -> Option<u64> {
        self.prompt_tokens_details.as_ref().and_then(|d| d.cached_tokens)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct CompletionDetails {
    pub reasoning_tokens: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct PromptDetails {
    pub cached_tokens: Option<u64>,
}

/// llama-server `timings`. `prompt_ms` runs until the first token is sampled; `predicted_ms`
/// covers the rest, yet `predicted_n` includes the first token.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct LlamaTimings {
    pub cache_n: Option<u64>,
    pub prompt_n: Option<u64>,
    pub prompt_ms: Option<f64>,
    pub predicted_n: Option<u64>,
    pub predicted_ms: Option<f64>,
    pub predicted_per_second: Option<f64>,
    /// With a draft model (`--model-draft`): tokens drafted and accepted in this generation.
    pub draft_n: Option<u64>,
    pub draft_n_accepted: Option<u64>,
}

/// The first 120 bytes of a stream item, for error messages.
pub fn preview(data: &[u8]) -> String {
    String::from_utf8_lossy(&data[..data.len().min(120)]).into_owned()
}

/// A human-readable message from an in-band or HTTP error body.
pub fn error_message(body: &str) -> String {
    if let Some(title) = html_title(body) {
        return title;
    }
    #[derive(Deserialize)]
    struct Envelope {
        error: serde_json::Value,
    }
    let message = match serde_json::from_str::<Envelope>(body) {
        Ok(Envelope {
            error: serde_json::Value::String(s),
        }) => s,
        Ok(Envelope { error }) => error
            .get("message")
            .and_then(|m| m.as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| error.to_string()),
        Err(_) => body.trim().to_owned(),
    };
    truncate(&message, 500)
}

/// An HTML page (a proxy's or a web server's error page) reduced to its `<title>`, or to "an
/// HTML page" without one; None for anything else.
fn html_title(body: &str) -> Option<String> {
    let lower = body.trim_start().to_ascii_lowercase();
    if !(lower.starts_with("<!doctype html")
        || lower.starts_with("<html")
        || lower.starts_with("<head")
        || lower.starts_with("<title"))
    {
        return None;
    }
    let title = lower.find("<title").and_then(|start| {
        let open_end = start + lower[start..].find('>')? + 1;
        let close = open_end + lower[open_end..].find("</title")?;
        Some(
            body.trim_start()[open_end..close]
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        )
    });
    Some(title.filter(|t| !t.is_empty()).map_or_else(
        || "an HTML page without a title".to_owned(),
        |t| format!("an HTML page titled {:?}", truncate(&t, 200)),
    ))
}

fn truncate(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_html_error_page_is_reduced_to_its_title() {
        let page = "\n<!DOCTYPE html>\n<html><head><TITLE>502  Bad\n Gateway</TITLE><style>body{}</style></head><body>nginx</body></html>";
        assert_eq!(error_message(page), r#"an HTML page titled "502 Bad Gateway""#);
        assert_eq!(
            error_message("<html><body>oops</body></html>"),
            "an HTML page without a title"
        );
        assert_eq!(error_message("model <x> not found"), "model <x> not found");
    }

    #[test]
    fn role_only_and_empty_deltas_carry_no_text() {
        let c: Chunk = serde_json::from_str(r#"{"choices":[{"delta":{"role":"assistant","content":null}}]}"#).unwrap();
        let d = c.choices[0].delta.as_ref().unwrap();
        assert!(d.content_text().is_none() && d.reasoning_text().is_none() && !d.has_tool_calls());
        let c: Chunk = serde_json::from_str(r#"{"choices":[{"delta":{"content":"","tool_calls":[]}}]}"#).unwrap();
        let d = c.choices[0].delta.as_ref().unwrap();
        assert!(d.content_text().is_none() && !d.has_tool_calls());
    }

    #[test]
    fn reasoning_arrives_under_either_key() {
        for body in [
            r#"{"choices":[{"delta":{"reasoning_content":"hm"}}]}"#,
            r#"{"choices":[{"delta":{"reasoning":"hm"}}]}"#,
        ] {
            let c: Chunk = serde_json::from_str(body).unwrap();
            assert_eq!(c.choices[0].delta.as_ref().unwrap().reasoning_text(), Some("hm"));
        }
    }

    #[test]
    fn error_messages_come_from_json_or_text() {
        assert_eq!(
            error_message(r#"{"error":{"code":404,"message":"model not found"}}"#),
            "model not found"
        );
        assert_eq!(error_message(r#"{"error":"boom"}"#), "boom");
        assert_eq!(error_message("Bad Gateway\n"), "Bad Gateway");
    }
}
