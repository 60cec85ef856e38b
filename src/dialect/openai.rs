//! The generic OpenAI-compatible dialect: the request as `client` builds it, no server stats.

use super::{Dialect, DialectOptions};
use crate::client::chunk::{self, Chunk};
use crate::client::sse::SseItem;
use crate::client::types::Observation;
use std::time::Duration;

pub struct OpenAi {
    pub options: DialectOptions,
}

impl Dialect for OpenAi {
    fn options(&self) -> &DialectOptions {
        &self.options
    }
}

/// One item of an OpenAI chat-completion SSE stream: a `data:` chunk or `[DONE]`.
pub fn read_chunk(obs: &mut Observation, item: SseItem<'_>, at: Duration) -> Result<(), String> {
    let SseItem::Event { name, data } = item else {
        return Ok(());
    };
    if !matches!(name, None | Some("message")) {
        return Ok(()); // named events (progress, status) are not chat-completion chunks
    }
    if data == b"[DONE]" {
        obs.stream_done(at);
        return Ok(());
    }
    let chunk: Chunk = serde_json::from_slice(data)
        .map_err(|e| format!("malformed JSON in stream: {e} (data starts {:?})", chunk::preview(data)))?;
    if let Some(error) = chunk.error {
        return Err(format!(
            "server error in stream: {}",
            chunk::error_message(&format!("{{\"error\":{}}}", error.get()))
        ));
    }
    let mut carried_text = false;
    for choice in &chunk.choices {
        if let Some(delta) = &choice.delta {
            if let Some(text) = delta.content_text() {
                obs.push_content(text);
                carried_text = true;
            }
            if let Some(text) = delta.reasoning_text() {
                obs.push_reasoning(text);
                carried_text = true;
            }
            if delta.has_tool_calls() {
                obs.tool_call_event(at);
                carried_text = true;
            }
        }
        if let Some(reason) = &choice.finish_reason {
            obs.finish_reason = Some(reason.to_string());
        }
    }
    if carried_text {
        obs.token_event(at);
        // A running count on a token-bearing event: usage on every chunk (vLLM
        // `continuous_usage_stats`) or per-token timings (llama-server). Trusted from the
        // second such event on, so that a final usage riding on the last text is not taken
        // for one.
        let running = chunk
            .usage
            .as_ref()
            .and_then(|u| u.completion_tokens)
            .or(chunk.timings.as_ref().and_then(|t| t.predicted_n));
        obs.counted_events = if running.is_some() { obs.counted_events + 1 } else { 0 };
        obs.events.streamed_tokens = running.filter(|_| obs.counted_events >= 2);
    }
    if chunk.usage.is_some() {
        obs.usage = chunk.usage;
    }
    if chunk.timings.is_some() {
        obs.timings = chunk.timings;
    }
    Ok(())
}
