#!/usr/bin/python3
"""Train the austen-llama fixture model and export it.

Small Llama-architecture decoder (Hugging Face LlamaForCausalLM semantics)
trained on five Jane Austen novels; Persuasion is held out for validation.

Usage:
    train.py [--work /tmp/fixture-work] [--out fixtures/austen-llama] [--steps N]

Expects prepare_data.sh to have been run on the same work directory.
Deterministic: fixed seeds, fixed step count, fixed thread count (2).
"""

import argparse
import copy
import math
import os
import sys
import time

# Threading/allocator setup must happen before torch (and OpenBLAS) load:
# one ATen intra-op thread, two OpenBLAS threads, and glibc malloc kept from
# returning large blocks to the OS on every step. Measured ~2x faster than
# two ATen threads on a 2-core machine. Re-exec once with the environment set.
ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "2",
       "MALLOC_MMAP_THRESHOLD_": "1000000000", "MALLOC_TRIM_THRESHOLD_": "1000000000"}


def ensure_env():
    if any(os.environ.get(k) != v for k, v in ENV.items()):
        os.environ.update(ENV)
        os.execv(sys.executable, [sys.executable] + sys.argv)


if __name__ == "__main__":
    ensure_env()

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# ---------------------------------------------------------------------------
# Hyperparameters
# ---------------------------------------------------------------------------
SEED = 1234
THREADS = 1           # ATen intra-op threads (OpenBLAS uses 2, see ENV)

VOCAB = 4096
HIDDEN = 256
LAYERS = 8
HEADS = 8
KV_HEADS = 2
HEAD_DIM = HIDDEN // HEADS
FFN = 768
EPS = 1e-5
CTX = 256
ROPE_THETA = 10000.0
BOS, EOS = 1, 2

STEPS = 2000           # optimizer steps (fixed, not time based)
BATCH = 8              # windows per step
PEAK_LR = 3e-3
WARMUP = 150
MIN_LR_FRAC = 0.1      # cosine decay to 10% of peak
BETAS = (0.9, 0.95)
WEIGHT_DECAY = 0.1     # applied to 2-D weights only
GRAD_CLIP = 1.0
INIT_STD = 0.02
EVAL_EVERY = 100
EVAL_WINDOWS = 64

TRAIN_BOOKS = ["Sense & Sensibility", "Pride & Prejudice", "Mansfield Park",
               "Emma", "Northanger Abbey"]
VALID_BOOKS = ["Persuasion"]


# ---------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------
class RMSNorm(nn.Module):
    def __init__(self, dim, eps=EPS):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        dtype = x.dtype
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * xf.to(dtype)


def rope_tables(seq_len, head_dim=HEAD_DIM, theta=ROPE_THETA):
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    t = torch.arange(seq_len, dtype=torch.float32)
    freqs = torch.outer(t, inv_freq)                  # (T, D/2)
    emb = torch.cat((freqs, freqs), dim=-1)           # (T, D)
    return emb.cos(), emb.sin()


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.q_proj = nn.Linear(HIDDEN, HEADS * HEAD_DIM, bias=False)
        self.k_proj = nn.Linear(HIDDEN, KV_HEADS * HEAD_DIM, bias=False)
        self.v_proj = nn.Linear(HIDDEN, KV_HEADS * HEAD_DIM, bias=False)
        self.o_proj = nn.Linear(HEADS * HEAD_DIM, HIDDEN, bias=False)

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, HEADS, HEAD_DIM).transpose(1, 2)
        k = self.k_proj(x).view(B, T, KV_HEADS, HEAD_DIM).transpose(1, 2)
        v = self.v_proj(x).view(B, T, KV_HEADS, HEAD_DIM).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        # grouped-query attention: KV head j serves query heads j*g .. j*g+g-1
        g = HEADS // KV_HEADS
        k = k.repeat_interleave(g, dim=1)
        v = v.repeat_interleave(g, dim=1)
        scores = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(HEAD_DIM)
        scores = scores + mask
        probs = torch.softmax(scores.float(), dim=-1).to(q.dtype)
        out = torch.matmul(probs, v)                  # (B, H, T, D)
        out = out.transpose(1, 2).reshape(B, T, HEADS * HEAD_DIM)
        return self.o_proj(out)


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.gate_proj = nn.Linear(HIDDEN, FFN, bias=False)
        self.up_proj = nn.Linear(HIDDEN, FFN, bias=False)
        self.down_proj = nn.Linear(FFN, HIDDEN, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.self_attn = Attention()
        self.mlp = MLP()
        self.input_layernorm = RMSNorm(HIDDEN)
        self.post_attention_layernorm = RMSNorm(HIDDEN)

    def forward(self, x, cos, sin, mask):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask)
        x = x + self.mlp(self.post_attention_layernorm(x))
        return x


class Inner(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed_tokens = nn.Embedding(VOCAB, HIDDEN)
        self.layers = nn.ModuleList([DecoderLayer() for _ in range(LAYERS)])
        self.norm = RMSNorm(HIDDEN)


class LlamaForCausalLM(nn.Module):
    """Parameter names match Hugging Face: model.*, lm_head.weight."""

    def __init__(self):
        super().__init__()
        self.model = Inner()
        self.lm_head = nn.Linear(HIDDEN, VOCAB, bias=False)
        cos, sin = rope_tables(CTX)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)

    def init_weights(self):
        resid_std = INIT_STD / math.sqrt(2 * LAYERS)
        for name, p in self.named_parameters():
            if p.dim() == 1:
                nn.init.ones_(p)
            elif name.endswith("o_proj.weight") or name.endswith("down_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=resid_std)
            else:
                nn.init.normal_(p, mean=0.0, std=INIT_STD)

    def forward(self, ids):
        B, T = ids.shape
        if T > CTX:
            raise ValueError("sequence longer than context")
        cos = self.rope_cos[:T]
        sin = self.rope_sin[:T]
        mask = torch.full((T, T), float("-inf"), dtype=torch.float32).triu(1)
        x = self.model.embed_tokens(ids)
        for layer in self.model.layers:
            x = layer(x, cos, sin, mask)
        x = self.model.norm(x)
        return self.lm_head(x)


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------
def book_file(work, book):
    safe = "".join(c if c.isalpha() else "_" for c in book)
    return os.path.join(work, "book_%s_para.txt" % safe)


def encode_books(sp, work, books):
    out = []
    for book in books:
        with open(book_file(work, book), encoding="utf-8") as f:
            paras = f.read().split("\n")
        paras = [p for p in paras if p != ""]
        ids = sp.encode("\n".join(paras))
        out.extend([BOS] + list(ids) + [EOS])
    return np.asarray(out, dtype=np.int32)


def load_streams(work):
    import sentencepiece as spm
    cache = os.path.join(work, "tokens.npz")
    if os.path.exists(cache):
        z = np.load(cache)
        return z["train"], z["valid"]
    sp = spm.SentencePieceProcessor(model_file=os.path.join(work, "tokenizer.model"))
    train = encode_books(sp, work, TRAIN_BOOKS)
    valid = encode_books(sp, work, VALID_BOOKS)
    np.savez(cache, train=train, valid=valid)
    return train, valid


def lr_at(step, total):
    # step is 0-based index of the optimizer step about to be taken
    if step < WARMUP:
        return PEAK_LR * (step + 1) / WARMUP
    prog = (step - WARMUP) / max(1, total - WARMUP)
    prog = min(1.0, prog)
    return PEAK_LR * (MIN_LR_FRAC + (1 - MIN_LR_FRAC) * 0.5 * (1 + math.cos(math.pi * prog)))


@torch.no_grad()
def evaluate(model, valid_x, valid_y):
    model.eval()
    total = 0.0
    for i in range(0, valid_x.shape[0], 16):
        logits = model(valid_x[i:i + 16])
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), valid_y[i:i + 16].reshape(-1),
                               reduction="sum")
        total += loss.item()
    model.train()
    return total / valid_y.numel()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="/tmp/fixture-work")
    ap.add_argument("--out", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "fixtures", "austen-llama"))
    ap.add_argument("--steps", type=int, default=STEPS)
    ap.add_argument("--log", default=None, help="TSV loss log (default WORK/loss.tsv)")
    args = ap.parse_args()

    torch.set_num_threads(THREADS)
    torch.manual_seed(SEED)
    np.random.seed(SEED)
    rng = np.random.RandomState(SEED)

    train, valid = load_streams(args.work)
    print("train tokens %d, valid tokens %d" % (len(train), len(valid)), flush=True)

    starts = np.linspace(0, len(valid) - (CTX + 1), EVAL_WINDOWS).astype(np.int64)
    vw = np.stack([valid[s:s + CTX + 1] for s in starts]).astype(np.int64)
    valid_x = torch.from_numpy(vw[:, :-1].copy())
    valid_y = torch.from_numpy(vw[:, 1:].copy())
    train_t = torch.from_numpy(train.astype(np.int64))

    model = LlamaForCausalLM()
    model.init_weights()
    nparams = sum(p.numel() for p in model.parameters())
    print("parameters: %d" % nparams, flush=True)

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([
        {"params": decay, "weight_decay": WEIGHT_DECAY},
        {"params": no_decay, "weight_decay": 0.0},
    ], lr=PEAK_LR, betas=BETAS, eps=1e-8)

    log_path = args.log or os.path.join(args.work, "loss.tsv")
    logf = open(log_path, "w")
    logf.write("step\ttrain_loss\tvalid_loss\tvalid_ppl\tlr\telapsed_s\n")

    best_loss = float("inf")
    best_state = None
    best_step = -1
    run_loss = 0.0
    run_n = 0
    t0 = time.time()
    idx = torch.arange(CTX + 1)

    def do_eval(step):
        nonlocal best_loss, best_state, best_step, run_loss, run_n
        vl = evaluate(model, valid_x, valid_y)
        tl = run_loss / run_n if run_n else float("nan")
        el = time.time() - t0
        logf.write("%d\t%.4f\t%.4f\t%.2f\t%.6g\t%.0f\n" % (step, tl, vl, math.exp(vl), lr_at(max(step - 1, 0), args.steps), el))
        logf.flush()
        print("step %5d  train %.4f  valid %.4f  ppl %.2f  %.0fs" % (step, tl, vl, math.exp(vl), el), flush=True)
        run_loss, run_n = 0.0, 0
        if vl < best_loss:
            best_loss, best_step = vl, step
            best_state = copy.deepcopy(model.state_dict())

    do_eval(0)
    for step in range(args.steps):
        lr = lr_at(step, args.steps)
        for g in opt.param_groups:
            g["lr"] = lr
        s = rng.randint(0, len(train) - (CTX + 1), size=BATCH)
        w = train_t[torch.from_numpy(s).unsqueeze(1) + idx]
        x, y = w[:, :-1], w[:, 1:]
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
        opt.step()
        run_loss += loss.item()
        run_n += 1
        if step == 19:
            el = time.time() - t0
            print("first 20 steps: %.1fs, %.0f tokens/s" % (el, 20 * BATCH * CTX / el), flush=True)
        done = step + 1
        if done % EVAL_EVERY == 0 or done == args.steps:
            do_eval(done)

    wall = time.time() - t0
    logf.write("# wall_s\t%.0f\n# best_step\t%d\n# best_valid_loss\t%.4f\n" % (wall, best_step, best_loss))
    logf.close()
    print("training wall time %.0fs; best step %d valid loss %.4f ppl %.2f"
          % (wall, best_step, best_loss, math.exp(best_loss)), flush=True)
    ckpt = os.path.join(args.work, "best.pt")
    torch.save({"state_dict": best_state, "step": best_step, "valid_loss": best_loss}, ckpt)

    from export_reference import export_all
    export_all(best_state, args.out, os.path.join(args.work, "tokenizer.model"))


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
