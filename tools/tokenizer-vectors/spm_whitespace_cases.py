#!/usr/bin/env python3
"""Writes SentencePiece's own tokenizations of whitespace runs as test data.

Whitespace runs are where BPE merges of equal score meet (each "▁▁" pair of a run of spaces scores the same), so the
order in which an implementation applies them decides the pieces. The expected ids come from the sentencepiece library
(Debian's python3-sentencepiece, the library spm_encode is built on), for two vocabularies:

  austen-llama   fixtures/austen-llama/tokenizer.model, the fixture model's own tokenizer
  llama-spm      the Llama 2 vocabulary of tests/Unit/TestData/llama-vocab/ggml-vocab-llama-spm.gguf, turned into a
                 ModelProto here (pieces, scores and types as stored; BPE; identity normalization; dummy prefix)

A third, tiny vocabulary (tiny.json, its pieces written out with the cases) exercises the rest of SentencePiece's BPE:
equal scores between different pieces, a user-defined piece (one symbol, never merged), an unused piece (merged, then
split back) and unknown characters without byte fallback.

Cases: runs of 1..40 spaces alone, between words, at the start and at the end of the text, and runs that mix spaces,
tabs and newlines (fixed patterns and a seeded random set). Output: tests/Unit/TestData/spm-whitespace/<name>.json,
a list of {"text", "ids"} (ids without BOS, as SentencePieceProcessor.encode returns them).

    /usr/bin/python3 tools/tokenizer-vectors/spm_whitespace_cases.py
"""

import json
import random
import struct
import sys
from pathlib import Path

import sentencepiece

sys.path.insert(0, str(Path(__file__).parent))
from extract_vocab import GgufReader, read_cases  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "Unit" / "TestData" / "spm-whitespace"


def cases() -> list:
    texts = []
    for n in range(1, 41):
        run = " " * n
        texts += [run, "a" + run + "b", run + "x", "x" + run]
    for n in (1, 2, 3, 5, 8, 11, 16, 17, 31, 40):
        texts += ["\t" * n, "\n" * n, "x" + "\t" * n + "y", "x" + " \t" * (n // 2 + 1) + "\n" * n]
    texts += [
        " \t  \n   x", "\n\n   \t\t  ", "x \t \n  ", "  \n  \n  ", "\t \t \t", "  \tif x:\n        return 1\n",
        "def f():\n    \n\treturn  2  ", "a\n\n\n\n   b   \t\tc", "   \n", "\n   ", " \n \n ", "\t\n\t\n",
    ]
    rng = random.Random(20261130)
    for _ in range(60):
        length = rng.randint(1, 40)
        text = "".join(rng.choice("    \t\n") for _ in range(length))
        where = rng.randint(0, 3)  # alone, before a word, after a word, between words
        texts.append([text, text + "w", "w" + text, "u" + text + "v"][where])
    return list(dict.fromkeys(texts))  # unique, in order


# Just enough protobuf to write a ModelProto: varints, length-delimited fields, a fixed32 float.
def varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field_varint(number: int, value: int) -> bytes:
    return varint(number << 3) + varint(value)


def field_bytes(number: int, value: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(value)) + value


def model_from_gguf(path: Path) -> bytes:
    meta = GgufReader(path.read_bytes()).metadata()
    return model_proto(meta["tokenizer.ggml.tokens"], meta["tokenizer.ggml.scores"], meta["tokenizer.ggml.token_type"], meta)


# (piece, score, type): 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused.
TINY = [
    ("<unk>", 0.0, 2), ("<s>", 0.0, 3), ("</s>", 0.0, 3), ("<u>", 0.0, 4),
    ("\u2581", -1.0, 1), ("a", -1.0, 1), ("b", -1.0, 1), ("c", -1.0, 1), ("<", -1.0, 1), (">", -1.0, 1), ("u", -1.0, 1),
    ("aa", -2.0, 1), ("ab", -2.0, 1), ("bc", -2.0, 1),       # equal scores: the leftmost pair merges first
    ("ba", -1.5, 5),                                          # unused: merged first, split back unless merged on
    ("bab", -1.75, 1), ("\u2581a", -3.0, 1), ("aab", -2.5, 1), ("\u2581\u2581", -2.0, 1),
]
TINY_CASES = ["aaa", "aab", "abab", "abc", "ba", "bab", "baba", "a<u>a", "<u><u>", "<u", "z", "zz a", "az\u00e9z", "aa  aa", " <u> ", "cbcb"]


def model_proto(tokens, scores, types, meta) -> bytes:
    proto = bytearray()
    for token, score, kind in zip(tokens, scores, types):
        piece = field_bytes(1, token.encode("utf-8")) + varint(2 << 3 | 5) + struct.pack("<f", score) + field_varint(3, kind)
        proto += field_bytes(1, piece)
    trainer = (field_varint(3, 2) + field_varint(4, len(tokens)) + field_varint(35, 1 if 6 in types else 0)
               + field_varint(40, meta.get("tokenizer.ggml.unknown_token_id", 0))
               + field_varint(41, meta.get("tokenizer.ggml.bos_token_id", 1))
               + field_varint(42, meta.get("tokenizer.ggml.eos_token_id", 2)))
    normalizer = (field_bytes(1, b"identity") + field_varint(3, 1 if meta.get("tokenizer.ggml.add_space_prefix", True) else 0)
                  + field_varint(4, 0) + field_varint(5, 1))
    proto += field_bytes(2, trainer) + field_bytes(3, normalizer)
    return bytes(proto)


def write(name: str, processor: "sentencepiece.SentencePieceProcessor", texts: list) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"text": text, "ids": processor.encode(text)}, ensure_ascii=False) for text in texts]
    (OUT / f"{name}.json").write_text("[\n" + ",\n".join(lines) + "\n]\n", encoding="utf-8")
    print(f"{name}: {len(lines)} cases")


def write_tiny() -> None:
    tokens, scores, types = zip(*TINY)
    processor = sentencepiece.SentencePieceProcessor(model_proto=model_proto(list(tokens), list(scores), list(types), {}))
    data = {
        "pieces": [{"piece": p, "score": s, "type": t} for p, s, t in TINY],
        "cases": [{"text": text, "ids": processor.encode(text)} for text in TINY_CASES],
    }
    (OUT / "tiny.json").write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"tiny: {len(TINY_CASES)} cases")


def main() -> int:
    texts = cases()
    fixture = sentencepiece.SentencePieceProcessor(model_file=str(ROOT / "fixtures" / "austen-llama" / "tokenizer.model"))
    write("austen-llama", fixture, texts)
    vocab = ROOT / "tests" / "Unit" / "TestData" / "llama-vocab" / "ggml-vocab-llama-spm.gguf"
    llama = sentencepiece.SentencePieceProcessor(model_proto=model_from_gguf(vocab))
    # The ModelProto written here must tokenize as llama.cpp does: check it on llama.cpp's own reference cases first.
    for case in read_cases(Path(str(vocab) + ".inp"), Path(str(vocab) + ".out")):
        if llama.encode(case["text"]) != case["ids"]:
            print(f"llama-spm as rebuilt here differs from llama.cpp on {case['text']!r}", file=sys.stderr)
            return 1
    write("llama-spm", llama, texts)
    write_tiny()
    return 0


if __name__ == "__main__":
    sys.exit(main())
