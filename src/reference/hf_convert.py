"""Converts a llama-architecture GGUF into a Hugging Face checkpoint (safetensors, config.json,
tokenizer and chat template) that vLLM loads, without a model hub.

quantbench runs this during the vLLM reference install (see src/reference/vllm.rs), with the
Python of the install's virtual environment (numpy, safetensors and the `gguf` package):

    python hf_convert.py MODEL.gguf OUT_DIR

Every quantized tensor is dequantized with the `gguf` package (llama.cpp's own Python reader) and
stored as float16 — what `llama-quantize … F16` makes of the same file (round to nearest even), so
the checkpoint holds the very weights of the reference's f16 GGUF; float32 tensors stay float32. llama.cpp's converter permutes the
rows of q and k so that its rope rotates adjacent pairs; Hugging Face's Llama rotates halves, so
the permutation is undone here. Names, config and tokenizer come from hf_layout.py.

Prints one JSON line describing the result. Any unsupported input stops with a message and exit 1.
"""

import argparse
import json
import os
import sys

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize
from hf_layout import ConvertError, dir_bytes, hf_name, llama_config, write_config, write_tokenizer
from safetensors.numpy import save_file


def read_meta(reader):
    """The GGUF's key-value metadata as plain Python values."""
    meta = {}
    for key, field in reader.fields.items():
        if key.startswith("GGUF."):
            continue
        value = field.contents()
        meta[key] = value.item() if isinstance(value, np.generic) else value
    return meta


def unpermute(weight, heads):
    """Undoes llama.cpp's convert_hf_to_gguf `permute` of q/k rows (pairwise → half rope)."""
    rows = weight.shape[0]
    return weight.reshape(heads, rows // heads // 2, 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def convert(gguf_path, out_dir):
    reader = GGUFReader(gguf_path)
    meta = read_meta(reader)
    heads = meta["llama.attention.head_count"]
    kv_heads = meta.get("llama.attention.head_count_kv") or heads
    weights, source_types = {}, set()
    for tensor in reader.tensors:
        # numpy shape of the dequantized data is (rows, columns), as Hugging Face stores it.
        data = dequantize(tensor.data, tensor.tensor_type)
        # Quantized matrices become float16 (as in the f16 GGUF); float32 ones (the norms, which
        # llama-quantize keeps in float32 too) stay as they are.
        data = data.astype(np.float32 if tensor.tensor_type.name == "F32" else np.float16)
        if tensor.name.endswith("attn_q.weight"):
            data = unpermute(data, heads)
        elif tensor.name.endswith("attn_k.weight"):
            data = unpermute(data, kv_heads)
        weights[hf_name(tensor.name)] = np.ascontiguousarray(data)
        source_types.add(tensor.tensor_type.name)
    tie = "lm_head.weight" not in weights
    config = {**llama_config(meta, tie), "torch_dtype": "float16"}
    os.makedirs(out_dir, exist_ok=True)
    save_file(weights, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})
    write_config(config, out_dir)
    write_tokenizer(meta, out_dir)
    with open(os.path.join(out_dir, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": config["bos_token_id"], "eos_token_id": config["eos_token_id"]}, f, indent=2)
    return {"tensors": len(weights), "source_types": sorted(source_types), "dtype": "float16", "bytes": dir_bytes(out_dir)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("gguf")
    parser.add_argument("out_dir")
    args = parser.parse_args()
    try:
        print(json.dumps(convert(args.gguf, args.out_dir)))
    except ConvertError as e:
        print(f"hf_convert: {args.gguf}: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
