"""The Hugging Face Llama layout of a llama-architecture GGUF: tensor names, config.json fields, and
the tokenizer rebuilt from the GGUF's own vocabulary. Shared by the converters beside this file
(mlx_convert.py for mlx_lm.server, hf_convert.py for vLLM), which read the GGUF with different
libraries and store the weights in different formats; quantbench writes this file next to them.

`meta` everywhere is the GGUF's metadata as plain Python values (ints, floats, strings, lists).
"""

import json
import os

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
    return meta[key]


def hf_name(gguf_name, suffixes=("weight",)):
    """blk.3.attn_q.weight -> model.layers.3.self_attn.q_proj.weight (`suffixes`: the tensor
    suffixes the caller's format has, e.g. MLX's quantized `scales` and `biases`)."""
    base, _, suffix = gguf_name.rpartition(".")
    if suffix not in suffixes:
        raise ConvertError(f"unexpected tensor {gguf_name}")
    if base.startswith("blk."):
        _, layer, kind = base.split(".", 2)
        if kind not in LAYER_NAMES:
            raise ConvertError(f"unexpected tensor {gguf_name} (not a Llama layer tensor)")
        return f"model.layers.{layer}.{LAYER_NAMES[kind]}.{suffix}"
    if base not in TOP_NAMES:
        raise ConvertError(f"unexpected tensor {gguf_name}")
    return f"{TOP_NAMES[base]}.{suffix}"


def llama_config(meta, tie):
    """config.json of a Hugging Face Llama model with the GGUF's dimensions; the caller adds what
    its format needs (dtype, quantization, rope layout)."""
    arch = scalar(meta, "general.architecture")
    if arch != "llama":
        raise ConvertError(f"only llama-architecture GGUFs are supported, this one is {arch!r}")
    heads = scalar(meta, "llama.attention.head_count")
    hidden = scalar(meta, "llama.embedding_length")
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
        "tie_word_embeddings": tie,
        "bos_token_id": scalar(meta, "tokenizer.ggml.bos_token_id", required=False),
        "eos_token_id": scalar(meta, "tokenizer.ggml.eos_token_id"),
    }


def write_config(config, out_dir):
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)


def write_tokenizer(meta, out_dir):
    """tokenizer.json and tokenizer_config.json (with the GGUF's chat template) from the GGUF's
    BPE vocabulary and merges."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    model = scalar(meta, "tokenizer.ggml.model")
    if model != "gpt2":
        raise ConvertError(f"only byte-level BPE (tokenizer.ggml.model = gpt2) is supported, not {model!r}")
    pre = scalar(meta, "tokenizer.ggml.pre", required=False) or "default"
    if pre not in PRE_TOKENIZERS:
        raise ConvertError(f"unknown pre-tokenizer {pre!r} (known: {', '.join(PRE_TOKENIZERS)})")
    tokens = meta["tokenizer.ggml.tokens"]
    types = meta.get("tokenizer.ggml.token_type") or [1] * len(tokens)
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


def dir_bytes(out_dir):
    return sum(os.path.getsize(os.path.join(out_dir, f)) for f in os.listdir(out_dir))
