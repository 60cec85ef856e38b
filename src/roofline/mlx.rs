//! Bytes per token of an MLX model directory: `config.json` (expert counts) and the safetensors
//! files it consists of (`model.safetensors.index.json`'s `weight_map`, or the single
//! `model.safetensors`), whose headers give each tensor's byte range. Quantized layers keep
//! `weight`, `scales` and `biases` under one name, all counted.

use super::{Experts, Naming, Tensor, WeightsPerToken};
use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;

/// A safetensors header larger than this is not a header.
const MAX_HEADER: u64 = 100 << 20;

pub fn weights_per_token(dir: &Path) -> Result<WeightsPerToken> {
    let config: serde_json::Value = read_json(&dir.join("config.json"))?;
    let files: BTreeSet<String> = match read_json::<serde_json::Value>(&dir.join("model.safetensors.index.json")) {
        Ok(index) => index
            .get("weight_map")
            .and_then(|m| m.as_object())
            .context("the safetensors index has no weight_map")?
            .values()
            .filter_map(|f| f.as_str().map(str::to_owned))
            .collect(),
        Err(_) => BTreeSet::from(["model.safetensors".to_owned()]),
    };
    let mut tensors = Vec::new();
    for file in &files {
        tensors.extend(tensors_of(&dir.join(file))?);
    }
    let number = |keys: &[&str]| {
        keys.iter().find_map(|k| {
            config
                .get(*k)
                .or_else(|| config.pointer(&format!("/text_config/{k}")))?
                .as_u64()
        })
    };
    let count = number(&["num_experts", "num_local_experts", "n_routed_experts"]);
    let used = number(&["num_experts_per_tok", "moe_top_k"]);
    let naming = Naming {
        embedding_prefix: "model.embed_tokens.",
        output_prefix: "lm_head.",
        is_expert: |n| n.contains(".switch_mlp.") || n.contains(".experts."),
    };
    let model_type = config
        .get("model_type")
        .and_then(|t| t.as_str())
        .unwrap_or("unknown model type");
    let source = format!(
        "MLX config.json + safetensors headers ({model_type}, {} tensors in {} file(s))",
        tensors.len(),
        files.len()
    );
    super::per_token(
        &tensors,
        &naming,
        count.zip(used).map(|(count, used)| Experts { used, count }),
        source,
    )
}

/// The tensors in one safetensors file's header (8-byte little-endian length, then JSON).
fn tensors_of(path: &Path) -> Result<Vec<Tensor>> {
    let mut file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut len = [0u8; 8];
    file.read_exact(&mut len)?;
    let len = u64::from_le_bytes(len);
    if len > MAX_HEADER {
        bail!("{}: a safetensors header of {len} bytes", path.display());
    }
    let mut header = vec![0u8; len as usize];
    file.read_exact(&mut header)?;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&header).with_context(|| format!("{}: safetensors header", path.display()))?;
    let mut tensors = Vec::new();
    for (name, info) in header.iter().filter(|(name, _)| *name != "__metadata__") {
        let offsets = info
            .get("data_offsets")
            .and_then(|o| o.as_array())
            .and_then(|o| Some((o.first()?.as_u64()?, o.get(1)?.as_u64()?)));
        let Some((start, end)) = offsets.filter(|(s, e)| e >= s) else {
            bail!("{}: tensor {name} has no valid data_offsets", path.display())
        };
        let rows = info
            .get("shape")
            .and_then(|s| s.as_array()?.first()?.as_u64())
            .unwrap_or(1);
        tensors.push(Tensor {
            name: name.clone(),
            bytes: end - start,
            rows,
        });
    }
    Ok(tensors)
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn safetensors(tensors: &[(&str, &[u64], u64)]) -> Vec<u8> {
        let mut offset = 0;
        let mut header = serde_json::Map::new();
        for (name, shape, bytes) in tensors {
            header.insert(
                (*name).into(),
                serde_json::json!({ "dtype": "U32", "shape": shape, "data_offsets": [offset, offset + bytes] }),
            );
            offset += bytes;
        }
        let text = serde_json::to_vec(&header).unwrap();
        let mut out = (text.len() as u64).to_le_bytes().to_vec();
        out.extend(text);
        out.resize(out.len() + offset as usize, 0);
        out
    }

    #[test]
    fn an_mlx_moe_counts_the_active_experts_share_and_one_embedding_row() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"model_type": "qwen3_moe", "num_experts": 16, "num_experts_per_tok": 4}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("model.safetensors.index.json"),
            r#"{"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("model-00001-of-00002.safetensors"),
            safetensors(&[
                ("model.embed_tokens.weight", &[1000, 8], 8000),
                ("model.embed_tokens.scales", &[1000, 1], 2000),
                ("lm_head.weight", &[1000, 8], 8000),
            ]),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("model-00002-of-00002.safetensors"),
            safetensors(&[
                ("model.layers.0.mlp.switch_mlp.up_proj.weight", &[16, 64, 8], 16_000),
                ("model.layers.0.self_attn.q_proj.weight", &[64, 8], 1_000),
            ]),
        )
        .unwrap();
        let w = weights_per_token(dir.path()).unwrap();
        assert_eq!(w.total_bytes, 8000 + 2000 + 8000 + 16_000 + 1_000);
        assert_eq!(w.bytes_per_token, 8 + 2 + 8000 + 4_000 + 1_000);
        assert_eq!(w.experts, Some(Experts { used: 4, count: 16 }));
        assert!(w.source.contains("2 file(s)"));
    }
}
