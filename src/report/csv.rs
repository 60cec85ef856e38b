//! `generations.csv`: one row per generation (warm-ups and failures included, marked) for
//! spreadsheets and pandas. Counts come with their source column; unmeasured values are empty.

use super::RunData;
use crate::record::GenerationRecord;
use anyhow::Result;

pub struct Csv;

type Column = (&'static str, fn(&GenerationRecord) -> String);

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn source(v: Option<crate::record::CountSource>) -> String {
    v.map(crate::util::serde_name).unwrap_or_default()
}

const COLUMNS: &[Column] = &[
    ("run", |r| r.run.clone()),
    ("group", |r| r.group.clone()),
    ("model", |r| r.model.clone()),
    ("quant", |r| r.quant.clone()),
    ("category", |r| r.category.clone()),
    ("prompt_id", |r| r.prompt_id.clone()),
    ("sample", |r| r.sample.to_string()),
    ("warmup", |r| r.warmup.to_string()),
    ("pair", |r| r.pair.as_ref().map(super::pair_text).unwrap_or_default()),
    ("load_benchmark", |r| {
        r.concurrency
            .as_ref()
            .map(|c| c.benchmark.name().to_owned())
            .unwrap_or_default()
    }),
    ("load_level", |r| opt(r.concurrency.as_ref().and_then(|c| c.level))),
    ("load_rate_per_s", |r| {
        opt(r.concurrency.as_ref().and_then(|c| c.rate_per_s))
    }),
    ("load_stream", |r| opt(r.concurrency.as_ref().map(|c| c.stream))),
    ("ok", |r| r.ok.to_string()),
    ("error", |r| r.error.clone().unwrap_or_default()),
    ("http_status", |r| opt(r.http_status)),
    ("started_at", |r| r.started_at.clone()),
    ("max_tokens", |r| r.max_tokens.to_string()),
    ("prompt_tokens", |r| opt(r.tokens.prompt)),
    ("prompt_source", |r| source(r.tokens.prompt_source)),
    ("prompt_cached", |r| opt(r.tokens.prompt_cached)),
    ("completion_tokens", |r| opt(r.tokens.completion)),
    ("completion_source", |r| source(r.tokens.completion_source)),
    ("reasoning_tokens", |r| opt(r.tokens.reasoning)),
    ("reasoning_source", |r| source(r.tokens.reasoning_source)),
    ("token_events", |r| r.tokens.token_events.to_string()),
    ("connect_s", |r| opt(r.t.connect_ns.map(|ns| ns as f64 / 1e9))),
    ("ttft_s", |r| opt(r.metrics.ttft_s)),
    ("decode_rate", |r| opt(r.metrics.decode_rate)),
    ("e2e_s", |r| opt(r.metrics.e2e_s)),
    ("output_rate", |r| opt(r.metrics.output_rate)),
    ("prefill_rate", |r| opt(r.metrics.prefill_rate)),
    ("itl_p50_s", |r| opt(r.metrics.itl_p50_s)),
    ("itl_p90_s", |r| opt(r.metrics.itl_p90_s)),
    ("itl_p99_s", |r| opt(r.metrics.itl_p99_s)),
    ("finish_reason", |r| r.finish_reason.clone().unwrap_or_default()),
    ("early_stop", |r| r.early_stop.to_string()),
    ("flags", |r| {
        r.flags
            .iter()
            .map(crate::util::serde_name)
            .collect::<Vec<_>>()
            .join(";")
    }),
    ("server_decode_rate", |r| {
        opt(r.server.as_ref().and_then(|s| s.decode_rate))
    }),
    ("server_decode_rate_rel_diff", |r| {
        opt(r.server.as_ref().and_then(|s| s.decode_rate_rel_diff))
    }),
    ("quality_check", |r| {
        r.quality.as_ref().map(|q| q.check.clone()).unwrap_or_default()
    }),
    ("quality_passed", |r| opt(r.quality.as_ref().and_then(|q| q.passed))),
    ("quality_detail", |r| {
        r.quality.as_ref().map(|q| q.detail.clone()).unwrap_or_default()
    }),
];

impl super::Exporter for Csv {
    fn file_name(&self) -> &'static str {
        "generations.csv"
    }

    fn render(&self, run: &RunData) -> Result<String> {
        let mut out = COLUMNS.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(",");
        out.push('\n');
        for r in &run.records {
            out.push_str(
                &COLUMNS
                    .iter()
                    .map(|(_, get)| field(&get(r)))
                    .collect::<Vec<_>>()
                    .join(","),
            );
            out.push('\n');
        }
        Ok(out)
    }
}

/// RFC 4180 quoting: fields with a comma, quote or line break are quoted, quotes doubled.
fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn fields_are_quoted_per_rfc_4180() {
        assert_eq!(super::field("plain"), "plain");
        assert_eq!(super::field("a,b"), "\"a,b\"");
        assert_eq!(super::field("say \"hi\"\n"), "\"say \"\"hi\"\"\n\"");
    }
}
