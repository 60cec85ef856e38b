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

GROUP_SIZE = 32

# GGUF tensor name (after "blk.N.") -> Hugging Face Llama name (after "model.layers.N.").
LAYER_NAMES = {
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
    "attn_norm": "input_layernorm",
    "ffn_norm": "post_attention_layernorm",
}
TOP_NAMES = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}

# llama.cpp's pre-tokenizer names -> how the Hugging Face tokenizer splits text before BPE.
# "smollm" is llama.cpp's LLAMA_VOCAB_PRE_TYPE_SMOLLM: single digits, then GPT-2's regex.
PRE_TOKENIZERS = {"smollm": "digits+bytelevel", "gpt2": "bytelevel", "default": "bytelevel"}

TOKEN_TYPE_CONTROL = 3
TOKEN_TYPE_USER_DEFINED = 4


class ConvertError(Exception):
    pass


def scalar(meta, key, required=True):
    if key not in meta:
        if required:
            raise ConvertError(f"GGUF metadata has no {key}")
        return None
    value = meta[key]
    return value.item() if isinstance(value, mx.array) else value


def hf_name(gguf_name):
    """blk.3.attn_q.scales -> model.layers.3.self_attn.q_proj.scales"""
    base, _, suffix = gguf_name.rpartition(".")
    if suffix not in ("weight", "scales", "biases"):
        raise ConvertError(f"unexpected tensor {gguf_name}")
    if base.startswith("blk."):
        _, layer, kind = base.split(".", 2)
        if kind not in LAYER_NAMES:
            raise ConvertError(f"unexpected tensor {gguf_name} (not a Llama layer tensor)")
        return f"model.layers.{layer}.{LAYER_NAMES[kind]}.{suffix}"
    if base not in TOP_NAMES:
        raise ConvertError(f"unexpected tensor {gguf_name}")
    return f"{TOP_NAMES[base]}.{suffix}"


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
    weights = {hf_name(k): v.astype(mx.float32) if v.dtype == mx.float16 else v for k, v in gguf_weights.items()}
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
    arch = scalar(meta, "general.architecture")
    if arch != "llama":
        raise ConvertError(f"only llama-architecture GGUFs are supported, this one is {arch!r}")
    heads = scalar(meta, "llama.attention.head_count")
    hidden = scalar(meta, "llama.embedding_length")
    quantization = {"group_size": GROUP_SIZE, "bits": bits, "mode": "affine"}
    for base, (b, g) in quantized.items():
        if (b, g) != (bits, GROUP_SIZE):
            quantization[base] = {"group_size": g, "bits": b, "mode": "affine"}
    return {
        "model_type": "llama",
        "architectures": ["LlamaForCausalLM"],
        "hidden_size": hidden,
        "num_hidden_layers": scalar(meta, "llama.block_count"),
        "intermediate_size": scalar(meta, "llama.feed_forward_length"),
        "num_attention_heads": heads,
        "num_key_value_heads": scalar(meta, "llama.attention.head_count_kv", required=False) or heads,
        "head_dim": scalar(meta, "llama.rope.dimension_count", required=False) or hidden // heads,
        "rms_norm_eps": scalar(meta, "llama.attention.layer_norm_rms_epsilon"),
        "vocab_size": len(meta["tokenizer.ggml.tokens"]),
        "max_position_embeddings": scalar(meta, "llama.context_length"),
        "rope_theta": scalar(meta, "llama.rope.freq_base", required=False) or 10000.0,
        # The GGUF's q/k rows are permuted for llama.cpp's pairwise rope: MLX's traditional rope.
        "rope_traditional": True,
        "tie_word_embeddings": tie,
        "bos_token_id": scalar(meta, "tokenizer.ggml.bos_token_id", required=False),
        "eos_token_id": scalar(meta, "tokenizer.ggml.eos_token_id"),
        "quantization": quantization,
        "quantization_config": quantization,
    }


def write_tokenizer(meta, out_dir):
    """tokenizer.json and tokenizer_config.json from the GGUF's BPE vocabulary and merges."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    model = scalar(meta, "tokenizer.ggml.model")
    if model != "gpt2":
        raise ConvertError(f"only byte-level BPE (tokenizer.ggml.model = gpt2) is supported, not {model!r}")
    pre = scalar(meta, "tokenizer.ggml.pre", required=False) or "default"
    if pre not in PRE_TOKENIZERS:
        raise ConvertError(f"unknown pre-tokenizer {pre!r} (known: {', '.join(PRE_TOKENIZERS)})")
    tokens = meta["tokenizer.ggml.tokens"]
    types = meta["tokenizer.ggml.token_type"].tolist() if "tokenizer.ggml.token_type" in meta else [1] * len(tokens)
    merges = [tuple(m.split(" ", 1)) for m in meta["tokenizer.ggml.merges"]]
    tokenizer = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges, fuse_unk=False))
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    if PRE_TOKENIZERS[pre] == "digits+bytelevel":
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
    else:
        tokenizer.pre_tokenizer = byte_level
    tokenizer.decoder = decoders.ByteLevel()
    special = [AddedToken(t, special=True, normalized=False) for t, ty in zip(tokens, types) if ty == TOKEN_TYPE_CONTROL]
    tokenizer.add_special_tokens(special)
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t, ty in zip(tokens, types) if ty == TOKEN_TYPE_USER_DEFINED])
    if tokenizer.get_vocab_size() != len(tokens):
        raise ConvertError(f"the rebuilt tokenizer has {tokenizer.get_vocab_size()} tokens, the GGUF {len(tokens)}")
    tokenizer.save(os.path.join(out_dir, "tokenizer.json"))

    def token(key):
        index = scalar(meta, key, required=False)
        return tokens[index] if index is not None else None

    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": token("tokenizer.ggml.bos_token_id"),
        "eos_token": token("tokenizer.ggml.eos_token_id"),
        "unk_token": token("tokenizer.ggml.unknown_token_id"),
        "pad_token": token("tokenizer.ggml.padding_token_id"),
        "add_bos_token": bool(scalar(meta, "tokenizer.ggml.add_bos_token", required=False)),
        "clean_up_tokenization_spaces": False,
        "model_max_length": scalar(meta, "llama.context_length"),
        "chat_template": scalar(meta, "tokenizer.chat_template"),
    }
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
        json.dump({k: v for k, v in config.items() if v is not None}, f, indent=2)


def convert(gguf_path, out_dir, bits):
    gguf_weights, meta = mx.load(gguf_path, return_metadata=True)
    weights, quantized = convert_weights(gguf_weights, bits)
    tie = "lm_head.weight" not in weights
    config = model_config(meta, quantized, bits, tie)
    os.makedirs(out_dir, exist_ok=True)
    mx.save_safetensors(os.path.join(out_dir, "model.safetensors"), weights, metadata={"format": "mlx"})
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    write_tokenizer(meta, out_dir)
    return {
        "bits": bits,
        "tensors": len(weights),
        "quantized_matrices": len(quantized),
        "bits_per_matrix": sorted({b for b, _ in quantized.values()}),
        "bytes": sum(os.path.getsize(os.path.join(out_dir, f)) for f in os.listdir(out_dir)),
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
