#!/usr/bin/python3
"""Export a trained checkpoint in the Hugging Face Llama layout and write
reference.json from the exported (float16-rounded) weights.

Usage:
    export_reference.py --ckpt /tmp/fixture-work/best.pt --out DIR
                        [--tokenizer /tmp/fixture-work/tokenizer.model]
    export_reference.py --reference-only --out DIR
        (recompute reference.json from DIR/model.safetensors + DIR/tokenizer.model)

reference.json is written last (temp name + rename) so that its presence
means the folder is complete.
"""

import argparse
import json
import os
import shutil
import struct
import sys

if __name__ == "__main__":
    # same threading/allocator environment as train.py (set before torch loads)
    _ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "2",
            "MALLOC_MMAP_THRESHOLD_": "1000000000", "MALLOC_TRIM_THRESHOLD_": "1000000000"}
    if any(os.environ.get(k) != v for k, v in _ENV.items()):
        os.environ.update(_ENV)
        os.execv(sys.executable, [sys.executable] + sys.argv)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train as T  # noqa: E402  (imports torch)

import numpy as np  # noqa: E402
import torch  # noqa: E402

PROMPTS = [
    "It is a truth universally acknowledged",
    "Mr. Darcy",
    "She was not",
    "The evening passed",
]
GREEDY_TOKENS = 32

CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": T.HIDDEN,
    "intermediate_size": T.FFN,
    "num_attention_heads": T.HEADS,
    "num_key_value_heads": T.KV_HEADS,
    "num_hidden_layers": T.LAYERS,
    "vocab_size": T.VOCAB,
    "max_position_embeddings": T.CTX,
    "rms_norm_eps": T.EPS,
    "rope_theta": T.ROPE_THETA,
    "hidden_act": "silu",
    "tie_word_embeddings": False,
    "bos_token_id": T.BOS,
    "eos_token_id": T.EOS,
    "torch_dtype": "float16",
}
GENERATION_CONFIG = {"bos_token_id": T.BOS, "eos_token_id": T.EOS, "max_length": T.CTX}


def tensor_names():
    names = ["model.embed_tokens.weight"]
    for i in range(T.LAYERS):
        p = "model.layers.%d." % i
        names += [p + "self_attn.q_proj.weight", p + "self_attn.k_proj.weight",
                  p + "self_attn.v_proj.weight", p + "self_attn.o_proj.weight",
                  p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight",
                  p + "mlp.down_proj.weight",
                  p + "input_layernorm.weight", p + "post_attention_layernorm.weight"]
    names += ["model.norm.weight", "lm_head.weight"]
    return names


# ---------------------------------------------------------------------------
# safetensors (written/read by hand; format: u64 LE header length, JSON
# header padded with spaces to a multiple of 8, then raw LE tensor data)
# ---------------------------------------------------------------------------
def write_safetensors(path, tensors):
    """tensors: list of (name, np.float16 array) in file order."""
    header = {}
    off = 0
    blobs = []
    for name, arr in tensors:
        arr = np.ascontiguousarray(arr.astype("<f2"))
        b = arr.tobytes()
        header[name] = {"dtype": "F16", "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (hlen,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + hlen].decode("utf-8"))
    base = 8 + hlen
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F16", name
        b, e = info["data_offsets"]
        arr = np.frombuffer(data[base + b:base + e], dtype="<f2").reshape(info["shape"])
        out[name] = arr.copy()
    return out


# ---------------------------------------------------------------------------
def export_weights(state_dict, out_dir, tokenizer_path):
    os.makedirs(out_dir, exist_ok=True)
    ref = os.path.join(out_dir, "reference.json")
    if os.path.exists(ref):
        os.remove(ref)  # folder is incomplete until reference.json reappears
    tensors = []
    for name in tensor_names():
        t = state_dict[name].detach().to(torch.float32).cpu().numpy()
        tensors.append((name, t.astype(np.float16)))
    assert set(tensor_names()) == {k for k in state_dict.keys()
                                   if not k.startswith("rope_")}, "unexpected tensors"
    write_safetensors(os.path.join(out_dir, "model.safetensors"), tensors)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(CONFIG, f, indent=2)
        f.write("\n")
    with open(os.path.join(out_dir, "generation_config.json"), "w") as f:
        json.dump(GENERATION_CONFIG, f, indent=2)
        f.write("\n")
    if os.path.abspath(tokenizer_path) != os.path.abspath(os.path.join(out_dir, "tokenizer.model")):
        shutil.copyfile(tokenizer_path, os.path.join(out_dir, "tokenizer.model"))


def load_exported_model(out_dir):
    weights = read_safetensors(os.path.join(out_dir, "model.safetensors"))
    model = T.LlamaForCausalLM()
    sd = {k: torch.from_numpy(v.astype(np.float32)) for k, v in weights.items()}
    missing, unexpected = model.load_state_dict(sd, strict=False)
    assert not unexpected and all(m.startswith("rope_") for m in missing), (missing, unexpected)
    model.eval()
    return model


@torch.no_grad()
def write_reference(out_dir):
    import sentencepiece as spm
    torch.set_num_threads(T.THREADS)
    sp = spm.SentencePieceProcessor(model_file=os.path.join(out_dir, "tokenizer.model"))
    model = load_exported_model(out_dir)
    prompts = []
    for text in PROMPTS:
        ids = [T.BOS] + list(sp.encode(text))
        seq = list(ids)
        first_logits = None
        greedy = []
        for _ in range(GREEDY_TOKENS):
            logits = model(torch.tensor([seq], dtype=torch.long))[0, -1]
            if first_logits is None:
                first_logits = [float(v) for v in logits.numpy().astype(np.float32)]
            nxt = int(torch.argmax(logits).item())
            greedy.append(nxt)
            seq.append(nxt)
        prompts.append({
            "text": text,
            "ids": ids,
            "first_logits": first_logits,
            "greedy": greedy,
            "greedy_text": sp.decode(greedy),
        })
    ref = {"model": "austen-llama", "dtype": "float16 weights, float32 compute", "prompts": prompts}
    path = os.path.join(out_dir, "reference.json")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(ref, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)
    return ref


def export_all(state_dict, out_dir, tokenizer_path):
    export_weights(state_dict, out_dir, tokenizer_path)
    ref = write_reference(out_dir)
    for p in ref["prompts"]:
        print("%r -> %r" % (p["text"], p["greedy_text"]), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", default="/tmp/fixture-work/best.pt")
    ap.add_argument("--tokenizer", default="/tmp/fixture-work/tokenizer.model")
    ap.add_argument("--out", required=True)
    ap.add_argument("--reference-only", action="store_true")
    args = ap.parse_args()
    if args.reference_only:
        ref = write_reference(args.out)
        for p in ref["prompts"]:
            print("%r -> %r" % (p["text"], p["greedy_text"]), flush=True)
        return
    ck = torch.load(args.ckpt, map_location="cpu")
    export_all(ck["state_dict"], args.out, args.tokenizer)


if __name__ == "__main__":
    main()
