//! How close decode runs to the memory-bandwidth limit. Generating one token reads every weight
//! the token passes through once, so decode ≲ bandwidth / bytes read per token. For a
//! mixture-of-experts model only the shared weights and the active experts' share are read.
//!
//! Bytes per token come from the model file's own tensor table (GGUF header, or MLX's
//! `config.json` and safetensors headers), counted as: every tensor, except that the token
//! embedding contributes one row (a lookup) unless the output projection reuses it (tied
//! embeddings: then it is read whole); routed-expert tensors count `used / count` of their size.
//! The KV cache is not counted, so the bound is optimistic and the percentage a lower bound.

pub mod bandwidth;
pub mod gguf;
mod mlx;

use crate::record::GenerationRecord;
use crate::stats::{self, Estimate, QuantileEstimate};
use anyhow::{bail, Result};
pub use bandwidth::{Bandwidth, BandwidthKind};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Routed experts: how many a token uses of how many there are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Experts {
    pub used: u64,
    pub count: u64,
}

/// What generating one token reads from the model's weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WeightsPerToken {
    /// How it was computed, e.g. "GGUF tensor table (llama, 272 tensors)".
    pub source: String,
    /// All weights in the file(s).
    pub total_bytes: u64,
    pub bytes_per_token: u64,
    /// Routed-expert tensors, all experts together (0 for a dense model).
    pub expert_bytes: u64,
    pub experts: Option<Experts>,
    /// The output projection reuses the token embedding (read whole per token).
    pub tied_embedding: bool,
}

/// One tensor as the computation needs it: name, bytes, and rows of its outermost dimension.
pub(crate) struct Tensor {
    pub name: String,
    pub bytes: u64,
    pub rows: u64,
}

/// Which tensors are what, per file format.
pub(crate) struct Naming {
    pub embedding_prefix: &'static str,
    pub output_prefix: &'static str,
    pub is_expert: fn(&str) -> bool,
}

/// Bytes read per token over `tensors` (see the module doc).
pub(crate) fn per_token(
    tensors: &[Tensor],
    naming: &Naming,
    experts: Option<Experts>,
    source: String,
) -> Result<WeightsPerToken> {
    let tied = !tensors.iter().any(|t| t.name.starts_with(naming.output_prefix));
    let (mut total, mut per_token, mut expert_bytes) = (0u64, 0f64, 0u64);
    for t in tensors {
        total += t.bytes;
        per_token += if (naming.is_expert)(&t.name) {
            let Some(e) = experts.filter(|e| e.count > 0) else {
                bail!("{} is an expert tensor but the model states no expert count", t.name)
            };
            expert_bytes += t.bytes;
            t.bytes as f64 * e.used as f64 / e.count as f64
        } else if t.name.starts_with(naming.embedding_prefix) && !tied {
            t.bytes as f64 / t.rows.max(1) as f64
        } else {
            t.bytes as f64
        };
    }
    if total == 0 {
        bail!("the model file lists no weights");
    }
    Ok(WeightsPerToken {
        source,
        total_bytes: total,
        bytes_per_token: per_token.round() as u64,
        expert_bytes,
        experts: experts.filter(|_| expert_bytes > 0),
        tied_embedding: tied,
    })
}

/// Bytes per token of the model at `path`: a GGUF file (all its splits), or an MLX model
/// directory (`config.json` + safetensors).
pub fn weights_per_token(path: &Path) -> Result<WeightsPerToken> {
    if path.is_dir() {
        return mlx::weights_per_token(path);
    }
    let headers = gguf_splits(path)?;
    let first = &headers[0];
    let experts = first
        .arch_u64("expert_count")
        .zip(first.arch_u64("expert_used_count"))
        .map(|(count, used)| Experts { used, count });
    let mut tensors = Vec::new();
    for t in headers.iter().flat_map(|h| &h.tensors) {
        let Some(bytes) = t.bytes() else {
            bail!(
                "tensor {} has ggml type {}, whose size this reader does not know",
                t.name,
                t.ggml_type
            )
        };
        tensors.push(Tensor {
            name: t.name.clone(),
            bytes,
            rows: t.dims.get(1).copied().unwrap_or(1),
        });
    }
    let naming = Naming {
        embedding_prefix: "token_embd.",
        output_prefix: "output.",
        is_expert: |n| n.contains("_exps."),
    };
    let splits = if headers.len() > 1 {
        format!(", {} split files", headers.len())
    } else {
        String::new()
    };
    let source = format!(
        "GGUF tensor table ({}, {} tensors{splits})",
        first.architecture().unwrap_or("unknown architecture"),
        tensors.len()
    );
    per_token(&tensors, &naming, experts, source)
}

/// The headers of a GGUF model: the file itself, or every `-0000k-of-0000n.gguf` split of it.
fn gguf_splits(path: &Path) -> Result<Vec<gguf::Header>> {
    let first = gguf::read(path)?;
    let count = first
        .metadata
        .get("split.count")
        .and_then(gguf::Value::as_u64)
        .unwrap_or(1);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let pattern = regex::Regex::new(r"-(\d{5})-of-(\d{5})\.gguf$").expect("valid regex");
    let Some(m) = pattern.captures(&name).filter(|_| count > 1) else {
        return Ok(vec![first]);
    };
    let stem = &name[..m.get(0).expect("whole match").start()];
    let mut headers = Vec::new();
    for k in 1..=count {
        headers.push(gguf::read(
            &path.with_file_name(format!("{stem}-{k:05}-of-{count:05}.gguf")),
        )?);
    }
    Ok(headers)
}

/// A group's decode rate against its memory-bandwidth bound.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupRoofline {
    pub group: String,
    pub bytes_per_token: u64,
    pub bandwidth: Bandwidth,
    /// bandwidth / bytes per token: the fastest a memory-bound decode could run.
    pub bound_tok_s: f64,
    /// Median decode rate over every successful measured sample of the group (all categories).
    pub decode: QuantileEstimate,
    /// decode / bound × 100, with the median's interval carried over.
    pub percent: Estimate,
}

/// Per group with a known bytes-per-token figure: decode rate as a percentage of the bound.
pub fn figures(
    records: &[GenerationRecord],
    weights: &[(String, WeightsPerToken)],
    bandwidth: &Bandwidth,
) -> Vec<GroupRoofline> {
    weights
        .iter()
        .filter(|(_, w)| w.bytes_per_token > 0 && bandwidth.bytes_per_s > 0.0)
        .filter_map(|(group, w)| {
            let rates: Vec<f64> = records
                .iter()
                .filter(|r| r.ok && !r.warmup && r.is_ordinary() && r.group == *group)
                .filter_map(|r| r.metrics.decode_rate)
                .collect();
            let decode = stats::quantile_ci(&rates, 0.5, crate::analysis::LEVEL)?;
            let bound_tok_s = bandwidth.bytes_per_s / w.bytes_per_token as f64;
            Some(GroupRoofline {
                group: group.clone(),
                bytes_per_token: w.bytes_per_token,
                bandwidth: bandwidth.clone(),
                bound_tok_s,
                percent: percent_of(bound_tok_s, decode.point, decode.interval.as_ref()),
                decode,
            })
        })
        .collect()
}

/// [`figures`] from what `metadata.json` holds (`memory_bandwidth`, `groups[].weights_per_token`),
/// read loosely so that older runs simply have none.
pub fn from_metadata(records: &[GenerationRecord], metadata: &serde_json::Value) -> Vec<GroupRoofline> {
    let Some(bandwidth) = metadata
        .get("memory_bandwidth")
        .and_then(|b| serde_json::from_value::<Bandwidth>(b.clone()).ok())
    else {
        return Vec::new();
    };
    let groups = metadata
        .get("groups")
        .and_then(|g| g.as_array())
        .map_or(&[][..], Vec::as_slice);
    let mut weights: Vec<(String, WeightsPerToken)> = Vec::new();
    for g in groups {
        let name = g.get("name").and_then(|n| n.as_str());
        let w = g
            .get("weights_per_token")
            .and_then(|w| serde_json::from_value::<WeightsPerToken>(w.clone()).ok());
        if let (Some(name), Some(w)) = (name, w) {
            if !weights.iter().any(|(n, _)| n == name) {
                weights.push((name.to_owned(), w));
            }
        }
    }
    figures(records, &weights, &bandwidth)
}

/// A decode rate (and its interval) as a percentage of `bound_tok_s`.
pub fn percent_of(bound_tok_s: f64, point: f64, interval: Option<&stats::Interval>) -> Estimate {
    let scale = 100.0 / bound_tok_s;
    Estimate {
        point: point * scale,
        interval: interval.map(|i| stats::Interval {
            lower: i.lower * scale,
            upper: i.upper * scale,
            level: i.level,
        }),
    }
}

/// "61 % of 819 GB/s ÷ 0.11 GB/token = 7,300 tok/s" style text for tables.
pub fn percent_text(r: &GroupRoofline) -> String {
    let interval = r
        .percent
        .interval
        .map_or(String::new(), |i| format!(" [{:.1}, {:.1}]", i.lower, i.upper));
    format!("{:.1} %{interval} of {:.0} tok/s", r.percent.point, r.bound_tok_s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weights_of(bytes: Vec<u8>) -> WeightsPerToken {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.gguf");
        std::fs::write(&path, bytes).unwrap();
        weights_per_token(&path).unwrap()
    }

    #[test]
    fn a_synthetic_moe_reads_its_shared_weights_and_the_active_experts_share() {
        // 8 experts, 2 used; F16 embedding (64 × 1000) with its own output (Q8_0); per layer
        // an attention tensor (Q4_K), a router (F32), three expert tensors (Q4_K) and a shared
        // expert (Q6_K).
        let keys = [("qwen3moe.expert_count", 8), ("qwen3moe.expert_used_count", 2)];
        let tensors: Vec<(&str, &[u64], u32)> = vec![
            ("token_embd.weight", &[64, 1000], 1),
            ("output.weight", &[64, 1000], 8),
            ("blk.0.attn_q.weight", &[256, 256], 12),
            ("blk.0.ffn_gate_inp.weight", &[256, 8], 0),
            ("blk.0.ffn_gate_exps.weight", &[256, 512, 8], 12),
            ("blk.0.ffn_up_exps.weight", &[256, 512, 8], 12),
            ("blk.0.ffn_down_exps.weight", &[512, 256, 8], 12),
            ("blk.0.ffn_up_shexp.weight", &[256, 512], 14),
        ];
        let w = weights_of(gguf::write_header("qwen3moe", &keys, &tensors));
        let embedding = 64 * 1000 * 2;
        let output = 64 * 1000 / 32 * 34;
        let attention = 256 * 256 / 256 * 144;
        let router = 256 * 8 * 4;
        let experts = 3 * (256 * 512 * 8 / 256 * 144);
        let shared = 256 * 512 / 256 * 210;
        assert_eq!(
            w.total_bytes,
            embedding + output + attention + router + experts + shared
        );
        assert_eq!(w.expert_bytes, experts);
        assert_eq!(w.experts, Some(Experts { used: 2, count: 8 }));
        assert!(!w.tied_embedding);
        assert_eq!(
            w.bytes_per_token,
            embedding / 1000 + output + attention + router + experts / 4 + shared
        );
        assert!(w.source.contains("qwen3moe"));
    }

    #[test]
    fn a_tied_embedding_is_read_whole_and_expert_tensors_need_a_count() {
        let w = weights_of(gguf::write_header(
            "llama",
            &[],
            &[
                ("token_embd.weight", &[64, 1000], 1),
                ("blk.0.attn_q.weight", &[64, 64], 1),
            ],
        ));
        assert!(w.tied_embedding);
        assert_eq!(w.bytes_per_token, w.total_bytes);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("moe.gguf");
        std::fs::write(
            &path,
            gguf::write_header("x", &[], &[("blk.0.ffn_up_exps.weight", &[32, 32, 4], 1)]),
        )
        .unwrap();
        assert!(weights_per_token(&path)
            .unwrap_err()
            .to_string()
            .contains("no expert count"));
    }

    #[test]
    fn the_percentage_carries_the_interval() {
        let p = percent_of(
            200.0,
            50.0,
            Some(&stats::Interval {
                lower: 40.0,
                upper: 60.0,
                level: 0.95,
            }),
        );
        assert_eq!(
            (p.point, p.interval.unwrap().lower, p.interval.unwrap().upper),
            (25.0, 20.0, 30.0)
        );
    }
}
