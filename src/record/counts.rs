//! Token counts with provenance: usage first, then server timings, then counted events.
//!
//! The requested `max_tokens` is never a source: a count we could not obtain stays absent.

use super::{CountSource, Flag, TokenCounts};
use crate::client::chunk::{LlamaTimings, Usage};
use crate::client::types::EventCounts;

/// `stopped`: the answer ended by the model (finish reason `stop`), not at the length limit.
pub fn resolve(
    usage: Option<&Usage>,
    timings: Option<&LlamaTimings>,
    events: EventCounts,
    stopped: bool,
) -> TokenCounts {
    let (completion, completion_source) = if let Some(n) = usage.and_then(|u| u.completion_tokens) {
        (Some(n), Some(CountSource::Usage))
    } else if let Some(n) = timings.and_then(|t| t.predicted_n) {
        (Some(n), Some(CountSource::ServerTimings))
    } else if events.token_events > 0 {
        (Some(events.token_events), Some(CountSource::EventsEstimate))
    } else {
        (None, None)
    };

    let (prompt, prompt_source) = if let Some(n) = usage.and_then(|u| u.prompt_tokens) {
        (Some(n), Some(CountSource::Usage))
    } else if let Some(n) = timings.and_then(|t| t.prompt_n?.checked_add(t.cache_n.unwrap_or(0))) {
        (Some(n), Some(CountSource::ServerTimings))
    } else {
        (None, None)
    };
    let prompt_cached = usage
        .and_then(Usage::cached_tokens)
        .or_else(|| timings.and_then(|t| t.cache_n));

    let (reasoning, reasoning_source) = if let Some(n) = usage.and_then(Usage::reasoning_tokens) {
        (Some(n), Some(CountSource::Usage))
    } else if completion.is_some() {
        // No breakdown from the server: one reasoning event is at least one token. With no
        // reasoning events at all the zero is exact, not an estimate.
        (Some(events.reasoning_events), Some(CountSource::EventsEstimate))
    } else {
        (None, None)
    };

    let after_last_event = completion.map_or(0, |n| tokens_after_last_event(n, events, stopped));
    TokenCounts {
        prompt,
        prompt_source,
        prompt_cached,
        completion,
        completion_source,
        reasoning,
        reasoning_source,
        token_events: events.token_events,
        reasoning_events: events.reasoning_events,
        tool_call_events: events.tool_call_events,
        first_event_tokens: completion
            .and_then(|n| super::metrics::first_event_tokens(n - after_last_event, events.token_events)),
        after_last_event,
    }
}

/// Counted tokens generated after the last token-bearing event (n_after), from the tokens the
/// stream carried rather than the number of its events:
/// - the server's running count on the last event, when it sends one, is exact;
/// - else a token-by-token stream (at most 1.5 tokens per event on average: a few events may
///   carry a multi-byte character's tokens together) that ended by a model stop and counts one
///   token more than it showed has an end-of-generation token generated after its last event;
/// - a stream whose events carry several tokens each (speculative decoding, MLX batching, vLLM
///   `stream_interval`) sends a batch when it is complete, so a counted end token was generated
///   within the last batch, before its event: 0.
fn tokens_after_last_event(completion: u64, events: EventCounts, stopped: bool) -> u64 {
    if let Some(streamed) = events.streamed_tokens {
        return completion.saturating_sub(streamed);
    }
    let token_by_token = 2 * completion.saturating_sub(1) <= 3 * events.token_events;
    u64::from(stopped && completion > events.token_events && token_by_token)
}

/// Provenance flags implied by the counts.
pub fn flags(counts: &TokenCounts) -> Vec<Flag> {
    let mut flags = Vec::new();
    if counts.completion_source == Some(CountSource::EventsEstimate) {
        flags.push(Flag::CompletionEstimated);
    }
    if counts.reasoning_source == Some(CountSource::EventsEstimate) && counts.reasoning_events > 0 {
        flags.push(Flag::ReasoningEstimated);
    }
    if counts.prompt_cached.is_some_and(|c| c > 0) {
        flags.push(Flag::PrefixCacheHit);
    }
    flags
}

/// Prompt tokens the server had to process for this request; unknown unless the server said how
/// many came from its prefix cache (a cache hit would otherwise pass for a very fast prefill).
pub fn prompt_processed(counts: &TokenCounts) -> Option<u64> {
    Some(counts.prompt?.saturating_sub(counts.prompt_cached?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(token: u64, reasoning: u64) -> EventCounts {
        EventCounts {
            token_events: token,
            reasoning_events: reasoning,
            ..EventCounts::default()
        }
    }

    #[test]
    fn the_end_token_is_inferred_from_streamed_tokens_not_events() {
        let usage = |n: u64| serde_json::from_str::<Usage>(&format!(r#"{{"completion_tokens":{n}}}"#)).unwrap();
        // 96 tokens in 32 events of 3: every counted token was streamed.
        let c = resolve(Some(&usage(96)), None, events(32, 0), true);
        assert_eq!((c.after_last_event, c.first_event_tokens), (0, Some(3.0)));
        // 10 one-token events and a counted end token; two events merged (a multi-byte character).
        assert_eq!(resolve(Some(&usage(11)), None, events(10, 0), true).after_last_event, 1);
        assert_eq!(resolve(Some(&usage(11)), None, events(9, 0), true).after_last_event, 1);
        // The server's running count on the last event says it exactly.
        let counted = EventCounts {
            streamed_tokens: Some(95),
            ..events(32, 0)
        };
        assert_eq!(resolve(Some(&usage(96)), None, counted, true).after_last_event, 1);
        assert_eq!(
            resolve(
                Some(&usage(96)),
                None,
                EventCounts {
                    streamed_tokens: Some(96),
                    ..counted
                },
                true
            )
            .after_last_event,
            0
        );
    }

    #[test]
    fn usage_wins_over_timings_and_events() {
        let usage: Usage = serde_json::from_str(
            r#"{"prompt_tokens":30,"completion_tokens":120,"completion_tokens_details":{"reasoning_tokens":80}}"#,
        )
        .unwrap();
        let timings: LlamaTimings = serde_json::from_str(r#"{"predicted_n":119,"prompt_n":30}"#).unwrap();
        let c = resolve(Some(&usage), Some(&timings), events(40, 20), true);
        assert_eq!(
            c.after_last_event, 0,
            "3 tokens per event: the end token came within the last batch"
        );
        assert_eq!(
            (c.completion, c.completion_source),
            (Some(120), Some(CountSource::Usage))
        );
        assert_eq!((c.reasoning, c.reasoning_source), (Some(80), Some(CountSource::Usage)));
        assert!(flags(&c).is_empty());
    }

    #[test]
    fn timings_then_events_and_the_estimate_is_flagged() {
        let timings: LlamaTimings = serde_json::from_str(r#"{"predicted_n":64,"prompt_n":10,"cache_n":5}"#).unwrap();
        let c = resolve(None, Some(&timings), events(64, 0), false);
        assert_eq!(c.after_last_event, 0);
        assert_eq!(
            (c.completion, c.completion_source),
            (Some(64), Some(CountSource::ServerTimings))
        );
        assert_eq!((c.prompt, c.prompt_cached), (Some(15), Some(5)));
        assert_eq!(prompt_processed(&c), Some(10));
        assert_eq!(flags(&c), vec![Flag::PrefixCacheHit]);

        let c = resolve(None, None, events(9, 7), true);
        assert_eq!(c.after_last_event, 0, "estimated from events: nothing unseen");
        assert_eq!(
            (c.completion, c.completion_source),
            (Some(9), Some(CountSource::EventsEstimate))
        );
        assert_eq!(c.reasoning, Some(7));
        assert_eq!(flags(&c), vec![Flag::CompletionEstimated, Flag::ReasoningEstimated]);
    }

    #[test]
    fn nothing_measured_means_no_count() {
        let c = resolve(None, None, events(0, 0), false);
        assert_eq!(
            prompt_processed(&TokenCounts {
                prompt: Some(1000),
                ..TokenCounts::default()
            }),
            None,
            "cache state unknown"
        );
        let huge: LlamaTimings = serde_json::from_str(&format!(r#"{{"prompt_n":{},"cache_n":5}}"#, u64::MAX)).unwrap();
        assert_eq!(
            resolve(None, Some(&huge), events(1, 0), false).prompt,
            None,
            "an overflowing count is no count"
        );
        assert_eq!(c.completion, None);
        assert_eq!(c.reasoning, None);
        assert_eq!(c.prompt, None);
    }
}
