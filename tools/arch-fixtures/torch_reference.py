"""Reference outputs for the fixtures llama.cpp cannot give: GPT-J (no converter or graph) and Mistral's sliding
window (its converter writes Mistral as plain llama, which llama.cpp runs with full attention).

Usage: /usr/bin/python3 torch_reference.py HF_FOLDER N_GREEDY PROMPT...   (one JSON object per prompt)

A transcription, in float64 and without the transformers package, of transformers' MistralForCausalLM (RMSNorm,
rotate-half rotary, grouped-query attention masked to the last sliding_window positions, SwiGLU, tied output) and
GPTJForCausalLM (one LayerNorm feeding parallel attention and MLP, rotary over the first rotary_dim dimensions of each
head in adjacent pairs, gelu_new, biased MLP and output). Prompts are encoded with the folder's SentencePiece model,
BOS first, as llama.cpp does.
"""
import json
import math
import struct
import sys

import numpy as np
import sentencepiece
import torch


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        assert info["dtype"] == "F16"
        array = np.frombuffer(data[start:end], dtype=np.float16).reshape(info["shape"])
        tensors[name] = torch.from_numpy(array.astype(np.float64))
    return tensors


def rms_norm(x, weight, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def layer_norm(x, weight, bias, eps):
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), weight, bias, eps)


def attention(q, k, v, allowed):
    # q (heads, n, hd); k, v (kv_heads, n, hd); allowed (n, n) boolean
    group = q.shape[0] // k.shape[0]
    k = k.repeat_interleave(group, dim=0)
    v = v.repeat_interleave(group, dim=0)
    scores = q @ k.transpose(1, 2) / math.sqrt(q.shape[-1])
    scores = scores.masked_fill(~allowed, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def mistral(t, c, ids):
    n, hidden, heads = len(ids), c["hidden_size"], c["num_attention_heads"]
    kv_heads, hd, eps = c.get("num_key_value_heads", heads), hidden // heads, c["rms_norm_eps"]
    window = c.get("sliding_window") or n
    inv_freq = 1.0 / (c.get("rope_theta", 10000.0) ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    angles = torch.arange(n, dtype=torch.float64)[:, None] * inv_freq[None, :]
    cos, sin = torch.cat((angles, angles), -1).cos(), torch.cat((angles, angles), -1).sin()
    i, j = torch.arange(n)[:, None], torch.arange(n)[None, :]
    allowed = (j <= i) & (j > i - window)
    h = t["model.embed_tokens.weight"][ids]
    for layer in range(c["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        x = rms_norm(h, t[p + "input_layernorm.weight"], eps)
        q = (x @ t[p + "self_attn.q_proj.weight"].T).view(n, heads, hd).transpose(0, 1)
        k = (x @ t[p + "self_attn.k_proj.weight"].T).view(n, kv_heads, hd).transpose(0, 1)
        v = (x @ t[p + "self_attn.v_proj.weight"].T).view(n, kv_heads, hd).transpose(0, 1)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        a = attention(q, k, v, allowed).transpose(0, 1).reshape(n, hidden)
        h = h + a @ t[p + "self_attn.o_proj.weight"].T
        x = rms_norm(h, t[p + "post_attention_layernorm.weight"], eps)
        gate, up = x @ t[p + "mlp.gate_proj.weight"].T, x @ t[p + "mlp.up_proj.weight"].T
        h = h + (torch.nn.functional.silu(gate) * up) @ t[p + "mlp.down_proj.weight"].T
    h = rms_norm(h, t["model.norm.weight"], eps)
    output = t.get("lm_head.weight", t["model.embed_tokens.weight"])
    return h[-1] @ output.T


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def gptj(t, c, ids):
    n, hidden, heads, eps = len(ids), c["n_embd"], c["n_head"], c["layer_norm_epsilon"]
    hd, rot = hidden // heads, c["rotary_dim"] or hidden // heads
    inv_freq = 1.0 / (10000 ** (torch.arange(0, rot, 2, dtype=torch.float64) / rot))
    angles = torch.arange(n, dtype=torch.float64)[:, None] * inv_freq[None, :]
    sin, cos = angles.sin().repeat_interleave(2, -1), angles.cos().repeat_interleave(2, -1)

    def rotate(x):  # x (heads, n, hd): adjacent pairs of the first rot dimensions
        r, rest = x[..., :rot], x[..., rot:]
        every_two = torch.stack((-r[..., 1::2], r[..., ::2]), dim=-1).flatten(-2)
        return torch.cat((r * cos + every_two * sin, rest), dim=-1)

    allowed = torch.arange(n)[None, :] <= torch.arange(n)[:, None]
    h = t["transformer.wte.weight"][ids]
    for layer in range(c["n_layer"]):
        p = f"transformer.h.{layer}."
        x = layer_norm(h, t[p + "ln_1.weight"], t[p + "ln_1.bias"], eps)
        q, k, v = ((x @ t[p + f"attn.{name}_proj.weight"].T).view(n, heads, hd).transpose(0, 1) for name in "qkv")
        a = attention(rotate(q), rotate(k), v, allowed).transpose(0, 1).reshape(n, hidden)
        attn = a @ t[p + "attn.out_proj.weight"].T
        mlp = gelu_new(x @ t[p + "mlp.fc_in.weight"].T + t[p + "mlp.fc_in.bias"]) @ t[p + "mlp.fc_out.weight"].T + t[p + "mlp.fc_out.bias"]
        h = h + attn + mlp
    h = layer_norm(h, t["transformer.ln_f.weight"], t["transformer.ln_f.bias"], eps)
    return h[-1] @ t["lm_head.weight"].T + t["lm_head.bias"]


def main():
    folder, n_greedy, prompts = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    with open(folder + "/config.json") as f:
        config = json.load(f)
    tensors = load_safetensors(folder + "/model.safetensors")
    forward = {"mistral": mistral, "gptj": gptj}[config["model_type"]]
    sp = sentencepiece.SentencePieceProcessor(model_file=folder + "/tokenizer.model")
    for prompt in prompts:
        ids = [config["bos_token_id"]] + sp.encode(prompt)
        tokens, first = list(ids), None
        greedy = []
        for _ in range(n_greedy):
            logits = forward(tensors, config, tokens)
            if first is None:
                first = logits
            greedy.append(int(torch.argmax(logits)))
            tokens.append(greedy[-1])
        print(json.dumps({"prompt": prompt, "promptIds": ids, "greedy": greedy,
                          "logits": [float("%.9g" % v) for v in first.tolist()]}, separators=(",", ":")))


if __name__ == "__main__":
    main()
