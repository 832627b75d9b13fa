"""Writes the tiny random-weight Hugging Face folders of fixtures/arch, one per family.

Usage: /usr/bin/python3 make_models.py OUT_DIR TOKENIZER_MODEL

Weights are zero-mean Gaussian, scaled so activations stay of order one (linear layers 1/sqrt(fan_in), embeddings 1,
or 0.25 where the output projection is tied to them) and norms are near one, so greedy continuations vary. Every tensor is
float16 (the safetensors file) and the seed is fixed, so the folders are reproducible byte for byte.
"""
import json
import os
import shutil
import struct
import sys

import numpy as np

VOCAB = 4096  # the bundled austen-llama SentencePiece vocabulary


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        data = np.ascontiguousarray(tensors[name].astype(np.float16)).tobytes()
        header[name] = {"dtype": "F16", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for blob in blobs:
            f.write(blob)


class Weights:
    def __init__(self, seed):
        self.rng = np.random.RandomState(seed)
        self.tensors = {}

    def linear(self, name, rows, columns, bias=False):
        self.tensors[name + ".weight"] = self.rng.randn(rows, columns) / np.sqrt(columns)
        if bias:
            self.tensors[name + ".bias"] = 0.1 * self.rng.randn(rows)

    def norm(self, name, size, bias=False):
        self.tensors[name + ".weight"] = 1 + 0.1 * self.rng.randn(size)
        if bias:
            self.tensors[name + ".bias"] = 0.1 * self.rng.randn(size)

    def embedding(self, name, rows, columns, scale=1.0):
        self.tensors[name + ".weight"] = scale * self.rng.randn(rows, columns)


def llama_like(seed, hidden, heads, kv_heads, ffn, layers, qkv_bias=False, tied=True):
    w = Weights(seed)
    hd = hidden // heads
    # Tied, the table is also the output projection: small, so that a token's own row does not dominate its logits.
    w.embedding("model.embed_tokens", VOCAB, hidden, scale=0.25 if tied else 1.0)
    for i in range(layers):
        p = f"model.layers.{i}."
        w.norm(p + "input_layernorm", hidden)
        w.linear(p + "self_attn.q_proj", hidden, hidden, qkv_bias)
        w.linear(p + "self_attn.k_proj", kv_heads * hd, hidden, qkv_bias)
        w.linear(p + "self_attn.v_proj", kv_heads * hd, hidden, qkv_bias)
        w.linear(p + "self_attn.o_proj", hidden, hidden)
        w.norm(p + "post_attention_layernorm", hidden)
        w.linear(p + "mlp.gate_proj", ffn, hidden)
        w.linear(p + "mlp.up_proj", ffn, hidden)
        w.linear(p + "mlp.down_proj", hidden, ffn)
    w.norm("model.norm", hidden)
    if not tied:
        w.linear("lm_head", VOCAB, hidden)
    return w.tensors


def gpt_neox(seed, hidden, heads, ffn, layers):
    w = Weights(seed)
    w.embedding("gpt_neox.embed_in", VOCAB, hidden)
    for i in range(layers):
        p = f"gpt_neox.layers.{i}."
        w.norm(p + "input_layernorm", hidden, bias=True)
        w.norm(p + "post_attention_layernorm", hidden, bias=True)
        w.linear(p + "attention.query_key_value", 3 * hidden, hidden, bias=True)
        w.linear(p + "attention.dense", hidden, hidden, bias=True)
        w.linear(p + "mlp.dense_h_to_4h", ffn, hidden, bias=True)
        w.linear(p + "mlp.dense_4h_to_h", hidden, ffn, bias=True)
    w.norm("gpt_neox.final_layer_norm", hidden, bias=True)
    w.linear("embed_out", VOCAB, hidden)
    return w.tensors


def falcon(seed, hidden, heads, kv_heads, layers, two_norms):
    w = Weights(seed)
    hd = hidden // heads
    w.embedding("transformer.word_embeddings", VOCAB, hidden, scale=0.25)
    for i in range(layers):
        p = f"transformer.h.{i}."
        if two_norms:
            w.norm(p + "ln_attn", hidden, bias=True)
            w.norm(p + "ln_mlp", hidden, bias=True)
        else:
            w.norm(p + "input_layernorm", hidden, bias=True)
        w.linear(p + "self_attention.query_key_value", (heads + 2 * kv_heads) * hd, hidden)
        w.linear(p + "self_attention.dense", hidden, hidden)
        w.linear(p + "mlp.dense_h_to_4h", 4 * hidden, hidden)
        w.linear(p + "mlp.dense_4h_to_h", hidden, 4 * hidden)
    w.norm("transformer.ln_f", hidden, bias=True)
    return w.tensors


def gpt_j(seed, hidden, heads, ffn, layers):
    w = Weights(seed)
    w.embedding("transformer.wte", VOCAB, hidden)
    for i in range(layers):
        p = f"transformer.h.{i}."
        w.norm(p + "ln_1", hidden, bias=True)
        for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
            w.linear(p + "attn." + name, hidden, hidden)
        w.linear(p + "mlp.fc_in", ffn, hidden, bias=True)
        w.linear(p + "mlp.fc_out", hidden, ffn, bias=True)
    w.norm("transformer.ln_f", hidden, bias=True)
    w.linear("lm_head", VOCAB, hidden, bias=True)
    return w.tensors


COMMON = {"vocab_size": VOCAB, "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float16"}

LLAMA = {"hidden_size": 64, "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 128,
         "num_hidden_layers": 2, "max_position_embeddings": 2048, "rms_norm_eps": 1e-5, "hidden_act": "silu",
         "tie_word_embeddings": True}

FIXTURES = {
    # Llama 3.1's rope scaling, with an original context of 64 so that the scaled frequencies turn within a prompt.
    "llama3": ({**COMMON, **LLAMA, "architectures": ["LlamaForCausalLM"], "model_type": "llama", "rope_theta": 10000.0,
                "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                 "original_max_position_embeddings": 64}},
               lambda: llama_like(3, 64, 4, 2, 128, 2)),
    # A window of 8 positions, shorter than every prompt plus its continuation.
    "mistral": ({**COMMON, **LLAMA, "architectures": ["MistralForCausalLM"], "model_type": "mistral", "rope_theta": 10000.0,
                 "sliding_window": 8},
                lambda: llama_like(4, 64, 4, 2, 128, 2)),
    "qwen2": ({**COMMON, **LLAMA, "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "rope_theta": 1000000.0,
               "rms_norm_eps": 1e-6, "use_sliding_window": False, "sliding_window": 2048, "max_window_layers": 2},
              lambda: llama_like(5, 64, 4, 2, 128, 2, qkv_bias=True)),
    "gptneox": ({**COMMON, "architectures": ["GPTNeoXForCausalLM"], "model_type": "gpt_neox", "hidden_size": 64,
                 "num_attention_heads": 2, "intermediate_size": 256, "num_hidden_layers": 2, "max_position_embeddings": 2048,
                 "rotary_pct": 0.25, "rotary_emb_base": 10000, "use_parallel_residual": True, "hidden_act": "gelu",
                 "layer_norm_eps": 1e-5, "tie_word_embeddings": False, "attention_bias": True},
                lambda: gpt_neox(6, 64, 2, 256, 2)),
    "falcon-7b": ({**COMMON, "architectures": ["FalconForCausalLM"], "model_type": "falcon", "hidden_size": 64,
                   "num_attention_heads": 4, "num_hidden_layers": 2, "multi_query": True, "new_decoder_architecture": False,
                   "parallel_attn": True, "bias": False, "alibi": False, "layer_norm_epsilon": 1e-5, "rope_theta": 10000.0,
                   "max_position_embeddings": 2048, "tie_word_embeddings": True},
                  lambda: falcon(7, 64, 4, 1, 2, two_norms=False)),
    "falcon-40b": ({**COMMON, "architectures": ["FalconForCausalLM"], "model_type": "falcon", "hidden_size": 64,
                    "num_attention_heads": 4, "num_kv_heads": 2, "num_hidden_layers": 2, "new_decoder_architecture": True,
                    "parallel_attn": True, "bias": False, "alibi": False, "layer_norm_epsilon": 1e-5, "rope_theta": 10000.0,
                    "max_position_embeddings": 2048, "tie_word_embeddings": True},
                   lambda: falcon(8, 64, 4, 2, 2, two_norms=True)),
    "gptj": ({**COMMON, "architectures": ["GPTJForCausalLM"], "model_type": "gptj", "n_embd": 64, "n_head": 2,
              "n_inner": 256, "n_layer": 2, "n_positions": 2048, "rotary_dim": 8, "activation_function": "gelu_new",
              "layer_norm_epsilon": 1e-5, "tie_word_embeddings": False},
             lambda: gpt_j(9, 64, 2, 256, 2)),
}


def main():
    out, tokenizer = sys.argv[1], sys.argv[2]
    names = sys.argv[3:] or list(FIXTURES)
    for name in names:
        config, make = FIXTURES[name]
        folder = os.path.join(out, name)
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "config.json"), "w") as f:
            json.dump(config, f, indent=2)
            f.write("\n")
        write_safetensors(os.path.join(folder, "model.safetensors"), make())
        shutil.copyfile(tokenizer, os.path.join(folder, "tokenizer.model"))
        print(folder)


if __name__ == "__main__":
    main()
