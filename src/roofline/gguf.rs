//! A GGUF header reader: the metadata key/values and the tensor infos (name, shape, type,
//! offset), enough to know how many bytes each tensor occupies. The tensor data is never read.
//!
//! Layout (GGUF v2/v3, little-endian): magic `GGUF`, version u32, tensor count u64, key/value
//! count u64; each key/value: key string (u64 length + UTF-8), value type u32, value; then each
//! tensor: name string, dimension count u32, dimensions u64 each (innermost first), ggml type
//! u32, offset u64 into the data section.

use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// Larger strings, arrays or counts than these mean a corrupt or foreign file, not a model.
const MAX_STRING: u64 = 1 << 26;
const MAX_TENSORS: u64 = 1 << 22;
const MAX_DIMS: u32 = 8;

/// A metadata value; arrays keep only their length (tokenizer vocabularies are not needed here).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Uint(u64),
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    Array { len: u64 },
}

impl Value {
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Uint(v) => Some(*v),
            Value::Int(v) => u64::try_from(*v).ok(),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// One tensor's entry in the header.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    /// Dimensions, innermost first (ggml's `ne`).
    pub dims: Vec<u64>,
    pub ggml_type: u32,
    pub offset: u64,
}

impl TensorInfo {
    pub fn elements(&self) -> u64 {
        self.dims.iter().product()
    }

    /// Bytes the tensor occupies: elements / block size × block bytes of its type; None for a
    /// type this reader does not know or a shape that does not fill whole blocks.
    pub fn bytes(&self) -> Option<u64> {
        let (block, block_bytes) = block_size(self.ggml_type)?;
        let n = self.elements();
        n.is_multiple_of(block).then(|| n / block * block_bytes)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    pub version: u32,
    /// Length of the header in the file; the tensor data starts at the next multiple of
    /// `general.alignment` (default 32).
    pub header_bytes: u64,
    pub metadata: BTreeMap<String, Value>,
    pub tensors: Vec<TensorInfo>,
}

impl Header {
    /// `general.architecture` (e.g. `llama`, `qwen3moe`), which prefixes the model's keys.
    pub fn architecture(&self) -> Option<&str> {
        self.metadata.get("general.architecture")?.as_str()
    }

    /// A key of the architecture, e.g. `arch_u64("expert_count")` reads `qwen3moe.expert_count`.
    pub fn arch_u64(&self, key: &str) -> Option<u64> {
        self.metadata.get(&format!("{}.{key}", self.architecture()?))?.as_u64()
    }

    /// Where the tensor data starts in the file.
    pub fn data_start(&self) -> u64 {
        let alignment = self
            .metadata
            .get("general.alignment")
            .and_then(Value::as_u64)
            .filter(|a| *a > 0)
            .unwrap_or(32);
        self.header_bytes.next_multiple_of(alignment)
    }
}

/// ggml type id → (elements per block, bytes per block), as in ggml's type traits
/// (`GGML_QUANT_SIZES` in llama.cpp's gguf-py). Ids 4, 5 and 31–33, 36–38 were removed from ggml.
pub fn block_size(ggml_type: u32) -> Option<(u64, u64)> {
    const QK_K: u64 = 256;
    Some(match ggml_type {
        0 => (1, 4),                                           // F32
        1 => (1, 2),                                           // F16
        2 => (32, 18),                                         // Q4_0
        3 => (32, 20),                                         // Q4_1
        6 => (32, 22),                                         // Q5_0
        7 => (32, 24),                                         // Q5_1
        8 => (32, 34),                                         // Q8_0
        9 => (32, 36),                                         // Q8_1
        10 => (QK_K, 4 + QK_K / 16 + QK_K / 4),                // Q2_K
        11 => (QK_K, 2 + QK_K / 4 + QK_K / 8 + 12),            // Q3_K
        12 => (QK_K, 4 + QK_K / 2 + 12),                       // Q4_K
        13 => (QK_K, 4 + QK_K / 2 + QK_K / 8 + 12),            // Q5_K
        14 => (QK_K, 2 + QK_K / 2 + QK_K / 4 + QK_K / 16),     // Q6_K
        15 => (QK_K, 4 + QK_K + QK_K / 8),                     // Q8_K
        16 => (QK_K, 2 + QK_K / 4),                            // IQ2_XXS
        17 => (QK_K, 2 + QK_K / 4 + QK_K / 32),                // IQ2_XS
        18 => (QK_K, 2 + QK_K / 4 + QK_K / 8),                 // IQ3_XXS
        19 => (QK_K, 2 + QK_K / 8 + QK_K / 16),                // IQ1_S
        20 => (32, 18),                                        // IQ4_NL
        21 => (QK_K, 2 + QK_K / 4 + QK_K / 8 + QK_K / 32 + 4), // IQ3_S
        22 => (QK_K, 2 + QK_K / 4 + QK_K / 16),                // IQ2_S
        23 => (QK_K, 4 + QK_K / 2 + QK_K / 64),                // IQ4_XS
        24 => (1, 1),                                          // I8
        25 => (1, 2),                                          // I16
        26 => (1, 4),                                          // I32
        27 | 28 => (1, 8),                                     // I64, F64
        29 => (QK_K, QK_K / 8 + QK_K / 16 + QK_K / 32),        // IQ1_M
        30 => (1, 2),                                          // BF16
        34 => (QK_K, 2 + 4 * 13),                              // TQ1_0
        35 => (QK_K, 2 + 64),                                  // TQ2_0
        39 => (32, 17),                                        // MXFP4
        40 => (64, 36),                                        // NVFP4
        41 => (128, 18),                                       // Q1_0
        42 => (64, 18),                                        // Q2_0
        _ => return None,
    })
}

/// Reads the header of the GGUF file at `path`.
pub fn read(path: &Path) -> Result<Header> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    parse(std::io::BufReader::new(file)).with_context(|| format!("reading the GGUF header of {}", path.display()))
}

/// Counts the bytes read through it.
struct Counting<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

/// Parses a GGUF header from the start of a file.
pub fn parse(r: impl Read) -> Result<Header> {
    let mut r = Counting { inner: r, count: 0 };
    let mut magic = [0u8; 4];
    r.read_exact(&mut magic)?;
    if &magic != b"GGUF" {
        bail!("not a GGUF file (magic {magic:?})");
    }
    let version = u32_le(&mut r)?;
    if !(2..=3).contains(&version) {
        bail!("GGUF version {version} is not supported (2 and 3 are)");
    }
    let (tensor_count, kv_count) = (u64_le(&mut r)?, u64_le(&mut r)?);
    if tensor_count > MAX_TENSORS || kv_count > MAX_TENSORS {
        bail!("implausible counts: {tensor_count} tensors, {kv_count} keys");
    }
    let mut metadata = BTreeMap::new();
    for _ in 0..kv_count {
        let key = string(&mut r)?;
        let kind = u32_le(&mut r)?;
        let value = value(&mut r, kind).with_context(|| format!("key {key:?}"))?;
        metadata.insert(key, value);
    }
    let mut tensors = Vec::with_capacity(tensor_count as usize);
    for _ in 0..tensor_count {
        let name = string(&mut r)?;
        let n_dims = u32_le(&mut r)?;
        if n_dims > MAX_DIMS {
            bail!("tensor {name:?} has {n_dims} dimensions");
        }
        let dims = (0..n_dims).map(|_| u64_le(&mut r)).collect::<Result<Vec<_>>>()?;
        let (ggml_type, offset) = (u32_le(&mut r)?, u64_le(&mut r)?);
        tensors.push(TensorInfo {
            name,
            dims,
            ggml_type,
            offset,
        });
    }
    Ok(Header {
        version,
        header_bytes: r.count,
        metadata,
        tensors,
    })
}

fn value(r: &mut impl Read, kind: u32) -> Result<Value> {
    let mut bytes = |n: usize| -> Result<Vec<u8>> {
        let mut b = vec![0u8; n];
        r.read_exact(&mut b)?;
        Ok(b)
    };
    Ok(match kind {
        0 => Value::Uint(bytes(1)?[0].into()),
        1 => Value::Int((bytes(1)?[0] as i8).into()),
        2 => Value::Uint(u16::from_le_bytes(bytes(2)?.try_into().expect("2 bytes")).into()),
        3 => Value::Int(i16::from_le_bytes(bytes(2)?.try_into().expect("2 bytes")).into()),
        4 => Value::Uint(u32::from_le_bytes(bytes(4)?.try_into().expect("4 bytes")).into()),
        5 => Value::Int(i32::from_le_bytes(bytes(4)?.try_into().expect("4 bytes")).into()),
        6 => Value::Float(f32::from_le_bytes(bytes(4)?.try_into().expect("4 bytes")).into()),
        7 => Value::Bool(bytes(1)?[0] != 0),
        8 => Value::Str(string(r)?),
        9 => {
            let (item, len) = (u32_le(r)?, u64_le(r)?);
            if len > MAX_STRING || item == 9 {
                bail!("unsupported array ({len} items of type {item})");
            }
            for _ in 0..len {
                value(r, item)?;
            }
            Value::Array { len }
        }
        10 => Value::Uint(u64_le(r)?),
        11 => Value::Int(u64_le(r)? as i64),
        12 => Value::Float(f64::from_bits(u64_le(r)?)),
        other => bail!("unknown value type {other}"),
    })
}

fn string(r: &mut impl Read) -> Result<String> {
    let len = u64_le(r)?;
    if len > MAX_STRING {
        bail!("a string of {len} bytes");
    }
    let mut b = vec![0u8; len as usize];
    r.read_exact(&mut b)?;
    Ok(String::from_utf8_lossy(&b).into_owned())
}

fn u32_le(r: &mut impl Read) -> Result<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}

fn u64_le(r: &mut impl Read) -> Result<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

/// Writes a GGUF header (for tests: synthetic models with known tensors).
#[cfg(test)]
pub fn write_header(arch: &str, u32_keys: &[(&str, u32)], tensors: &[(&str, &[u64], u32)]) -> Vec<u8> {
    let mut out = b"GGUF".to_vec();
    let s = |out: &mut Vec<u8>, text: &str| {
        out.extend((text.len() as u64).to_le_bytes());
        out.extend(text.as_bytes());
    };
    out.extend(3u32.to_le_bytes());
    out.extend((tensors.len() as u64).to_le_bytes());
    out.extend((u32_keys.len() as u64 + 1).to_le_bytes());
    s(&mut out, "general.architecture");
    out.extend(8u32.to_le_bytes());
    s(&mut out, arch);
    for (key, v) in u32_keys {
        s(&mut out, key);
        out.extend(4u32.to_le_bytes());
        out.extend(v.to_le_bytes());
    }
    let mut offset = 0u64;
    for (name, dims, ggml_type) in tensors {
        s(&mut out, name);
        out.extend((dims.len() as u32).to_le_bytes());
        for d in *dims {
            out.extend(d.to_le_bytes());
        }
        out.extend(ggml_type.to_le_bytes());
        out.extend(offset.to_le_bytes());
        let info = TensorInfo {
            name: (*name).into(),
            dims: dims.to_vec(),
            ggml_type: *ggml_type,
            offset,
        };
        offset += info.bytes().unwrap_or(0).next_multiple_of(32);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_a_written_header_and_rejects_other_files() {
        let bytes = write_header(
            "llama",
            &[("llama.block_count", 2)],
            &[
                ("token_embd.weight", &[64, 100], 1),
                ("blk.0.attn_q.weight", &[256, 64], 12),
            ],
        );
        let h = parse(bytes.as_slice()).unwrap();
        assert_eq!(h.architecture(), Some("llama"));
        assert_eq!(h.arch_u64("block_count"), Some(2));
        assert_eq!(h.tensors[0].bytes(), Some(64 * 100 * 2));
        // Q4_K: 256 elements per 144-byte block.
        assert_eq!(h.tensors[1].bytes(), Some(64 * 144));
        assert_eq!(h.tensors[1].offset, (64 * 100 * 2u64).next_multiple_of(32));
        assert_eq!(h.header_bytes, bytes.len() as u64);
        assert_eq!(h.data_start(), (bytes.len() as u64).next_multiple_of(32));
        assert!(parse(&b"GGML\x03\0\0\0"[..])
            .unwrap_err()
            .to_string()
            .contains("not a GGUF file"));
        assert!(
            parse(&bytes[..bytes.len() - 3]).is_err(),
            "a cut header is an error, not a short list"
        );
        assert_eq!(
            TensorInfo {
                name: "x".into(),
                dims: vec![100],
                ggml_type: 12,
                offset: 0
            }
            .bytes(),
            None,
            "100 elements do not fill Q4_K blocks"
        );
        assert_eq!(block_size(4), None);
    }
}
