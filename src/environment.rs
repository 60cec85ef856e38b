//! What a group's numbers depend on besides our code: which server build ran which model file,
//! at what quantization and context length, as the server described itself. (The machine is
//! `sysmon`'s.)

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Bytes of a model file that are hashed: enough to tell builds and quants apart, bounded so that
/// a 200 GB BF16 file is not read whole before a run.
pub const HASHED_PREFIX_BYTES: u64 = 64 << 20;

/// A model file on disk and a hash of its first bytes (`head -c 67108864 FILE | sha256sum`
/// reproduces it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelFileIdentity {
    pub path: PathBuf,
    pub bytes: u64,
    /// SHA-256 of the first `hashed_bytes` bytes, hex.
    pub sha256_prefix: String,
    pub hashed_bytes: u64,
}

pub fn identify_model_file(path: &Path) -> Result<ModelFileIdentity> {
    let file = std::fs::File::open(path).with_context(|| format!("opening the model file {}", path.display()))?;
    let bytes = file
        .metadata()
        .with_context(|| format!("reading the size of {}", path.display()))?
        .len();
    let mut hasher = Sha256::new();
    let hashed_bytes = std::io::copy(&mut file.take(HASHED_PREFIX_BYTES), &mut hasher)
        .with_context(|| format!("reading {}", path.display()))?;
    let sha256_prefix = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok(ModelFileIdentity {
        path: path.to_owned(),
        bytes,
        sha256_prefix,
        hashed_bytes,
    })
}

/// What a server said about itself and the model it serves; each field absent when not said.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerDescription {
    /// e.g. `llama.cpp`, or LM Studio's runtime such as `llama.cpp-mac-arm64-apple-metal-advsimd`.
    pub backend: Option<String>,
    pub backend_version: Option<String>,
    /// The quantization as the server names it (e.g. `Q4_K_M`, `4bit`).
    pub quant: Option<String>,
    pub context_length: Option<u64>,
    /// The model file the server reports loading.
    pub model_path: Option<PathBuf>,
    /// The loaded model's size as the server reports it (Ollama `/api/ps` size, LM Studio
    /// `size_bytes`).
    pub model_bytes: Option<u64>,
    /// The part of it in GPU memory (Ollama `size_vram`).
    pub model_vram_bytes: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn only_a_bounded_prefix_is_hashed() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(b"abc").unwrap();
        let id = identify_model_file(f.path()).unwrap();
        assert_eq!((id.bytes, id.hashed_bytes), (3, 3));
        assert_eq!(
            id.sha256_prefix, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "sha256(\"abc\")"
        );

        let big = tempfile::NamedTempFile::new().unwrap();
        big.as_file().set_len(HASHED_PREFIX_BYTES + 1000).unwrap(); // sparse: nothing written
        let id = identify_model_file(big.path()).unwrap();
        assert_eq!(
            (id.bytes, id.hashed_bytes),
            (HASHED_PREFIX_BYTES + 1000, HASHED_PREFIX_BYTES)
        );
        let err = format!(
            "{:#}",
            identify_model_file(Path::new("/nonexistent/m.gguf")).unwrap_err()
        );
        assert!(err.contains("/nonexistent/m.gguf"), "{err}");
    }
}
