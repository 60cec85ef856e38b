"""Converts a llama-architecture GGUF into a directory mlx_lm.server loads, without a model hub.

quantbench runs this during the MLX reference install (see src/reference/mlx.rs), with the
Python of the install's virtual environment:

    python mlx_convert.py MODEL.gguf OUT_DIR --bits 4|8

MLX's own GGUF loader (`mx.load`) returns Q4_1 and Q8_0 tensors as MLX affine-quantized arrays
(weight, scales, biases; group size 32), so the 4-bit model keeps the GGUF's weights bit for bit:
only the names change to the Hugging Face Llama layout mlx-lm expects. `--bits 8` stores
each 4-bit matrix as 8 bits on a grid that holds its 16 levels exactly (code c becomes 17·c, the
scale a 17th): the same weights up to float rounding, so it measures the speed of 8-bit MLX
kernels, not 8-bit quality. Tensors already at 8 bits (the Q8_0 embedding) are kept as they are.

llama.cpp's converter permutes the rows of q and k so that its rope rotates adjacent pairs; MLX
calls that layout `rope_traditional`, so the config sets it instead of undoing the permutation.
The tokenizer (tokenizer.json) is rebuilt with the `tokenizers` library from the GGUF's
`tokenizer.ggml.*` metadata, and the chat template is the GGUF's `tokenizer.chat_template`.

Prints one JSON line describing the result. Any unsupported input stops with a message and exit 1.
"""

import argparse
import json
import os
import sys

import mlx.core as mx
from hf_layout import ConvertError, dir_bytes, hf_name, llama_config, write_config, write_tokenizer

GROUP_SIZE = 32
SUFFIXES = ("weight", "scales", "biases")


def plain(meta):
    """The metadata mx.load returns, with its arrays as Python values (what hf_layout reads)."""
    def value(v):
        if isinstance(v, mx.array):
            return v.item() if v.ndim == 0 else v.tolist()
        return v
    return {k: value(v) for k, v in meta.items()}


def quant_params(weights, base):
    """(bits, group_size) of the quantized matrix `base`, from its packed shapes."""
    packed, scales = weights[f"{base}.weight"], weights[f"{base}.scales"]
    in_dims = scales.shape[-1] * GROUP_SIZE
    if packed.dtype != mx.uint32 or (packed.shape[-1] * 32) % in_dims:
        raise ConvertError(f"{base}: packed shape {packed.shape} does not fit group size {GROUP_SIZE}")
    return packed.shape[-1] * 32 // in_dims, GROUP_SIZE


def widen(packed, scales, biases, group, bits, new_bits):
    """The same weights on a finer grid: code c of `bits` becomes c·k of `new_bits`, with the
    scale divided by k = (2^new_bits − 1) / (2^bits − 1) (17 from 4 to 8 bits), so every weight
    bias + scale·c is kept up to float rounding. (`mx.quantize` of the dequantized weights would
    pick its own grid and move weights by up to one 8-bit step.)"""
    ones, zeros = mx.ones_like(scales), mx.zeros_like(biases)
    codes = mx.dequantize(packed, ones, zeros, group_size=group, bits=bits).astype(mx.uint32)
    k = (2**new_bits - 1) // (2**bits - 1)
    per_word = 32 // new_bits
    shifts = mx.arange(per_word, dtype=mx.uint32) * new_bits
    wide = (codes * k).reshape(*codes.shape[:-1], -1, per_word)
    repacked = (wide << shifts).sum(axis=-1).astype(mx.uint32)
    return repacked, scales / k, biases


def convert_weights(gguf_weights, bits):
    """Renamed weights, and per matrix the (bits, group size) it is stored with."""
    # Scales and biases widen from float16 to float32 (exactly): MLX then computes in float32 on
    # the CPU, as llama.cpp does, instead of in emulated float16.
    weights = {hf_name(k, SUFFIXES): v.astype(mx.float32) if v.dtype == mx.float16 else v for k, v in gguf_weights.items()}
    quantized = {}
    for name in sorted(weights):
        if not name.endswith(".scales"):
            continue
        base = name[: -len(".scales")]
        if f"{base}.biases" not in weights:
            raise ConvertError(f"{base} has scales but no biases: not an affine (Q4_1/Q8_0-style) quant")
        have_bits, group = quant_params(weights, base)
        if have_bits not in (4, 8):
            raise ConvertError(f"{base}: {have_bits}-bit tensors are not supported")
        if have_bits < bits:
            w, s, b = widen(weights[f"{base}.weight"], weights[f"{base}.scales"], weights[f"{base}.biases"], group, have_bits, bits)
            weights.update({f"{base}.weight": w, f"{base}.scales": s, f"{base}.biases": b})
            have_bits = bits
        quantized[base] = (have_bits, group)
    return weights, quantized


def model_config(meta, quantized, bits, tie):
    quantization = {"group_size": GROUP_SIZE, "bits": bits, "mode": "affine"}
    for base, (b, g) in quantized.items():
        if (b, g) != (bits, GROUP_SIZE):
            quantization[base] = {"group_size": g, "bits": b, "mode": "affine"}
    return {
        **llama_config(meta, tie),
        # The GGUF's q/k rows are permuted for llama.cpp's pairwise rope: MLX's traditional rope.
        "rope_traditional": True,
        "quantization": quantization,
        "quantization_config": quantization,
    }


def convert(gguf_path, out_dir, bits):
    gguf_weights, meta = mx.load(gguf_path, return_metadata=True)
    meta = plain(meta)
    weights, quantized = convert_weights(gguf_weights, bits)
    tie = "lm_head.weight" not in weights
    config = model_config(meta, quantized, bits, tie)
    os.makedirs(out_dir, exist_ok=True)
    mx.save_safetensors(os.path.join(out_dir, "model.safetensors"), weights, metadata={"format": "mlx"})
    write_config(config, out_dir)
    write_tokenizer(meta, out_dir)
    return {
        "bits": bits,
        "tensors": len(weights),
        "quantized_matrices": len(quantized),
        "bits_per_matrix": sorted({b for b, _ in quantized.values()}),
        "bytes": dir_bytes(out_dir),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("gguf")
    parser.add_argument("out_dir")
    parser.add_argument("--bits", type=int, choices=(4, 8), required=True)
    args = parser.parse_args()
    try:
        print(json.dumps(convert(args.gguf, args.out_dir, args.bits)))
    except ConvertError as e:
        print(f"mlx_convert: {args.gguf}: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
