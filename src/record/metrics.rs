//! Per-generation metrics, derived once, here, from timestamps and resolved token counts.
//!
//! Definitions (also in `docs/schema.md`):
//! - `ttft` = first token-bearing event − request sent;
//! - `decode_rate` = (N − n₁ − n_after) / (t_last − t_first), where n₁ is the tokens carried by the
//!   first token-bearing event (1 for one token per event; N / events when events carry several)
//!   and n_after the end-of-generation token a server counts but never streams (generated after
//!   t_last; 1 when the model stopped and N exceeds the events);
//! - `e2e` = end of stream − request sent; `output_rate` = N / e2e;
//! - `prefill_rate` = prompt tokens processed (cached ones excluded) / ttft;
//! - inter-token gaps: between consecutive token-bearing events, summarised as p50/p90/p99.
//!
//! A metric that cannot be computed (too few events, no count) is `None`, never zero.

use super::Metrics;
use statrs::statistics::{Data, OrderStatistics};
use std::time::Duration;

/// What a generation gives the metric definitions.
#[derive(Clone, Copy, Debug, Default)]
pub struct MetricInputs<'a> {
    pub first_token: Option<Duration>,
    pub last_token: Option<Duration>,
    pub end: Option<Duration>,
    /// Generated tokens (N), from the best available source.
    pub completion: Option<u64>,
    pub token_events: u64,
    /// Counted tokens generated after the last event (see the module docs).
    pub after_last_event: u64,
    /// Prompt tokens the server had to process (prompt − cached).
    pub prompt_processed: Option<u64>,
    pub gaps_us: &'a [u64],
}

/// Tokens attributed to the first token-bearing event: one, unless events carry several tokens
/// on average, in which case the average is the best estimate without a tokenizer. `streamed`
/// counts the tokens the events carried (N − n_after).
pub fn first_event_tokens(streamed: u64, token_events: u64) -> Option<f64> {
    if token_events == 0 {
        return None;
    }
    Some((streamed as f64 / token_events as f64).max(1.0))
}

pub fn derive(i: &MetricInputs) -> Metrics {
    let ttft = i.first_token.map(secs);
    let e2e = i.end.map(secs);
    let decode_rate = match (i.completion, i.first_token, i.last_token) {
        (Some(n), Some(first), Some(last)) if i.token_events >= 2 && last > first => {
            first_event_tokens(n.saturating_sub(i.after_last_event), i.token_events)
                .map(|n1| (n as f64 - n1 - i.after_last_event as f64) / secs(last - first))
                .filter(|rate| *rate > 0.0)
        }
        _ => None,
    };
    let output_rate = match (i.completion, e2e) {
        (Some(n), Some(e)) if n > 0 && e > 0.0 => Some(n as f64 / e),
        _ => None,
    };
    let prefill_rate = match (i.prompt_processed, ttft) {
        (Some(p), Some(t)) if p > 0 && t > 0.0 => Some(p as f64 / t),
        _ => None,
    };
    let [itl_p50_s, itl_p90_s, itl_p99_s] = gap_percentiles(i.gaps_us);
    Metrics {
        ttft_s: ttft,
        decode_rate,
        e2e_s: e2e,
        output_rate,
        prefill_rate,
        itl_p50_s,
        itl_p90_s,
        itl_p99_s,
    }
}

/// p50, p90 and p99 of the gaps in seconds (statrs' quantile, Hyndman–Fan type 8).
fn gap_percentiles(gaps_us: &[u64]) -> [Option<f64>; 3] {
    if gaps_us.is_empty() {
        return [None; 3];
    }
    let mut data = Data::new(gaps_us.iter().map(|&g| g as f64 / 1e6).collect::<Vec<_>>());
    [0.5, 0.9, 0.99].map(|p| Some(data.quantile(p)))
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Option<Duration> {
        Some(Duration::from_millis(v))
    }

    #[test]
    fn single_token_events_give_n_minus_one_over_decode_time() {
        // 11 tokens, first at 100 ms, last at 1100 ms: 10 intervals in 1 s.
        let gaps = [100_000u64; 10];
        let m = derive(&MetricInputs {
            first_token: ms(100),
            last_token: ms(1100),
            end: ms(1200),
            completion: Some(11),
            token_events: 11,
            after_last_event: 0,
            prompt_processed: Some(50),
            gaps_us: &gaps,
        });
        assert!((m.decode_rate.unwrap() - 10.0).abs() < 1e-9);
        assert!((m.ttft_s.unwrap() - 0.1).abs() < 1e-12);
        assert!((m.output_rate.unwrap() - 11.0 / 1.2).abs() < 1e-9);
        assert!((m.prefill_rate.unwrap() - 500.0).abs() < 1e-9);
        assert!((m.itl_p50_s.unwrap() - 0.1).abs() < 1e-12);
    }

    #[test]
    fn multi_token_events_subtract_the_first_events_share() {
        // 4 events carrying 40 tokens: the first event is credited with 10, so 30 tokens in 0.3 s.
        let m = derive(&MetricInputs {
            first_token: ms(100),
            last_token: ms(400),
            end: ms(400),
            completion: Some(40),
            token_events: 4,
            ..Default::default()
        });
        assert!((m.decode_rate.unwrap() - 100.0).abs() < 1e-9);
    }

    #[test]
    fn an_unstreamed_end_token_is_not_decode_time() {
        // 11 counted tokens, 10 streamed (one per 100 ms), the 11th is the end-of-generation token.
        let m = derive(&MetricInputs {
            first_token: ms(0),
            last_token: ms(900),
            end: ms(950),
            completion: Some(11),
            token_events: 10,
            after_last_event: 1,
            ..Default::default()
        });
        assert!((m.decode_rate.unwrap() - 10.0).abs() < 1e-9, "{:?}", m.decode_rate);
    }

    #[test]
    fn unmeasurable_metrics_are_absent_not_zero() {
        let m = derive(&MetricInputs {
            first_token: ms(100),
            last_token: ms(100),
            end: ms(150),
            completion: Some(1),
            token_events: 1,
            ..Default::default()
        });
        assert_eq!(m.decode_rate, None);
        assert_eq!(m.prefill_rate, None);
        assert_eq!(m.itl_p50_s, None);
        let none = derive(&MetricInputs::default());
        assert_eq!(none, Metrics::default());
    }
}
