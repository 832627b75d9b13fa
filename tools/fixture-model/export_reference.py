#!/usr/bin/python3
"""Export a trained checkpoint in the Hugging Face Llama layout and write
reference.json and reference-long.json from the exported (float16-rounded)
weights.

Usage:
    export_reference.py --ckpt /tmp/fixture-work/best.pt --out DIR
                        [--tokenizer /tmp/fixture-work/tokenizer.model]
                        [--valid /tmp/fixture-work/valid.txt]
    export_reference.py --reference-only --out DIR [--valid ...]
        (recompute reference.json and reference-long.json from
         DIR/model.safetensors + DIR/tokenizer.model)
    export_reference.py --long-only --out DIR [--valid ...]
        (recompute reference-long.json only; reference.json is left alone)

The held-out text for reference-long.json is prepare_data.sh's valid.txt
(Persuasion, one paragraph per line); by default it is looked up next to
--tokenizer, i.e. /tmp/fixture-work/valid.txt.

Both reference files are written under a temporary name and then renamed:
reference.json after the weights, reference-long.json after reference.json.
"""

import argparse
import json
import math
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

# reference-long.json: held-out text (Persuasion), located by the opening
# words of a paragraph in prepare_data.sh's valid.txt; the text runs on
# through the following paragraphs, joined with "\n" as in train.py.
LONG_WINDOW = ("Persuasion, chapter 1",
               "Vanity was the beginning and the end of Sir Walter Elliot's character")
LONG_LOGIT_POSITIONS = [0, 63, 64, 65, 127, 128, 200, 254]
LONG_PROMPTS = [  # (source, paragraph opening, upper bound on ids incl. BOS)
    ("Persuasion, chapter 4", "He was not Mr Wentworth, the former curate of Monkford", 100),
    ("Persuasion, chapter 23", "\"I can listen no longer in silence.", 190),
    ("Persuasion, chapter 9", "Captain Wentworth was come to Kellynch as to a home", 230),
]
LONG_GREEDY_MAX = 48

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
    for name in ("reference.json", "reference-long.json"):
        ref = os.path.join(out_dir, name)
        if os.path.exists(ref):
            os.remove(ref)  # stale once the weights change
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


# ---------------------------------------------------------------------------
# reference-long.json
# ---------------------------------------------------------------------------
def f32(v):
    """A float32 value as the Python float whose repr is the shortest decimal
    that reads back as the same float32 (exact, and shorter than repr of the
    widened double)."""
    return float(str(np.float32(v)))


def f32_list(a):
    return [f32(v) for v in np.asarray(a, dtype=np.float32).reshape(-1)]


def held_out_text(sp, valid_path, opening, n_text_tokens, word_end):
    """The held-out text from the paragraph that starts with `opening`, cut
    after n_text_tokens tokens of sp.encode (or, with word_end, after the
    largest count not above that which ends a word: the next piece starts
    with the SentencePiece space). Returns (text, ids) with
    ids == [BOS] + sp.encode(text), which is asserted."""
    with open(valid_path, encoding="utf-8") as f:
        paras = [p for p in f.read().split("\n") if p != ""]
    hits = [i for i, p in enumerate(paras) if p.startswith(opening)]
    assert len(hits) == 1, (opening, hits)
    source = "\n".join(paras[hits[0]:hits[0] + 20])
    ids = list(sp.encode(source))
    n = n_text_tokens
    assert len(ids) > n, (opening, len(ids))
    if word_end:
        while not sp.id_to_piece(ids[n]).startswith("\u2581"):
            n -= 1
    ids = ids[:n]
    text = sp.decode(ids)
    assert list(sp.encode(text)) == ids, "cut text does not re-encode to the same ids: %r" % opening
    assert source.startswith(text), opening
    return text, [T.BOS] + ids


def top2_margin(logits):
    v = torch.topk(logits, 2).values
    return float(v[0] - v[1])


@torch.no_grad()
def write_reference_long(out_dir, valid_path):
    import sentencepiece as spm
    torch.set_num_threads(T.THREADS)
    sp = spm.SentencePieceProcessor(model_file=os.path.join(out_dir, "tokenizer.model"))
    model = load_exported_model(out_dir)

    # one full context window: BOS + 255 text tokens, a single forward pass
    source, opening = LONG_WINDOW
    text, ids = held_out_text(sp, valid_path, opening, T.CTX - 1, word_end=False)
    assert len(ids) == T.CTX
    logits = model(torch.tensor([ids], dtype=torch.long))[0]          # (256, V) float32
    pred = logits[:-1]                                                 # positions 0..254
    logp = torch.log_softmax(pred, dim=-1)                             # float32
    target = torch.tensor(ids[1:], dtype=torch.long)
    nll = (-logp.gather(1, target.unsqueeze(1)).squeeze(1)).numpy().astype(np.float32)
    half = T.CTX // 2
    mean_nll = float(np.mean(nll.astype(np.float64)))
    half_nll = float(np.mean(nll[half:].astype(np.float64)))
    top2 = torch.topk(pred, 2, dim=-1).values
    window = {
        "source": source,
        "text": text,
        "ids": ids,
        "nll": f32_list(nll),
        "mean_nll": mean_nll,
        "perplexity": math.exp(mean_nll),
        "second_half_start": half,
        "second_half_mean_nll": half_nll,
        "second_half_perplexity": math.exp(half_nll),
        "argmax": [int(v) for v in torch.argmax(pred, dim=-1)],
        "argmax_margin": f32_list(top2[:, 0] - top2[:, 1]),
        "logits_at": [{"position": p, "logits": f32_list(logits[p])}
                      for p in LONG_LOGIT_POSITIONS],
    }

    prompts = []
    for source, opening, max_ids in LONG_PROMPTS:
        text, ids = held_out_text(sp, valid_path, opening, max_ids - 1, word_end=True)
        seq = list(ids)
        first_logits = None
        greedy, margins = [], []
        # greedy step k reads the logits at position len(ids) - 1 + k; the
        # last possible step reads position CTX - 1 (255)
        while len(greedy) < LONG_GREEDY_MAX and len(seq) <= T.CTX:
            last = model(torch.tensor([seq], dtype=torch.long))[0, -1]
            if first_logits is None:
                first_logits = f32_list(last)
            nxt = int(torch.argmax(last).item())
            greedy.append(nxt)
            margins.append(f32(top2_margin(last)))
            seq.append(nxt)
        prompts.append({
            "source": source,
            "text": text,
            "ids": ids,
            "first_logits": first_logits,
            "greedy": greedy,
            "greedy_margin": margins,
            "greedy_text": sp.decode(greedy),
        })

    ref = {"model": "austen-llama", "dtype": "float16 weights, float32 compute",
           "window": window, "long_prompts": prompts}
    path = os.path.join(out_dir, "reference-long.json")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(compact_json(ref))
        f.write("\n")
    os.replace(tmp, path)
    return ref


def compact_json(o, indent=0):
    """JSON with one key per line, but each list of plain numbers on one line."""
    pad, inner = " " * indent, " " * (indent + 1)
    if isinstance(o, dict):
        items = [inner + json.dumps(k) + ": " + compact_json(v, indent + 1) for k, v in o.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(o, list) and any(isinstance(v, (dict, list)) for v in o):
        items = [inner + compact_json(v, indent + 1) for v in o]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return json.dumps(o, separators=(",", ":"))


def print_long_summary(ref):
    w = ref["window"]
    print("window (%s): perplexity %.4f (mean NLL %.4f), second half %.4f (mean NLL %.4f), "
          "min argmax margin %.3g"
          % (w["source"], w["perplexity"], w["mean_nll"], w["second_half_perplexity"],
             w["second_half_mean_nll"], min(w["argmax_margin"])), flush=True)
    for p in ref["long_prompts"]:
        print("%d ids (%s) -> %d greedy, min margin %.3g: %r"
              % (len(p["ids"]), p["source"], len(p["greedy"]), min(p["greedy_margin"]),
                 p["greedy_text"]), flush=True)


def export_all(state_dict, out_dir, tokenizer_path, valid_path=None):
    export_weights(state_dict, out_dir, tokenizer_path)
    ref = write_reference(out_dir)
    for p in ref["prompts"]:
        print("%r -> %r" % (p["text"], p["greedy_text"]), flush=True)
    valid_path = valid_path or os.path.join(os.path.dirname(os.path.abspath(tokenizer_path)), "valid.txt")
    print_long_summary(write_reference_long(out_dir, valid_path))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", default="/tmp/fixture-work/best.pt")
    ap.add_argument("--tokenizer", default="/tmp/fixture-work/tokenizer.model")
    ap.add_argument("--valid", default=None,
                    help="held-out paragraphs (default: valid.txt next to --tokenizer)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--reference-only", action="store_true")
    ap.add_argument("--long-only", action="store_true")
    args = ap.parse_args()
    valid_path = args.valid or os.path.join(os.path.dirname(os.path.abspath(args.tokenizer)), "valid.txt")
    if args.long_only:
        print_long_summary(write_reference_long(args.out, valid_path))
        return
    if args.reference_only:
        ref = write_reference(args.out)
        for p in ref["prompts"]:
            print("%r -> %r" % (p["text"], p["greedy_text"]), flush=True)
        print_long_summary(write_reference_long(args.out, valid_path))
        return
    ck = torch.load(args.ckpt, map_location="cpu")
    export_all(ck["state_dict"], args.out, args.tokenizer, valid_path)


if __name__ == "__main__":
    main()
