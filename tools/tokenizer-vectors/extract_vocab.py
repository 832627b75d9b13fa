#!/usr/bin/env python3
"""Turns llama.cpp's vocabulary-only GGUF files and their reference tokenizations into test data.

For each name, reads <models>/ggml-vocab-<name>.gguf (metadata only; these files hold no tensors) and
the .gguf.inp / .gguf.out pair beside it, and writes <out>/<name>.json.gz holding the byte-level BPE
tokenizer metadata and the reference cases. Standard library only, so it runs anywhere Python 3 does.

    extract_vocab.py --models <llama.cpp checkout>/models --out tests/Unit/TestData/bpe-vocab gpt-2 llama-bpe qwen2
"""

import argparse
import gzip
import io
import json
import struct
import sys
from pathlib import Path

GGUF_MAGIC = b"GGUF"

# GGUF value types and their struct formats (little-endian); 8 string and 9 array are read separately.
SCALAR_FORMATS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
TYPE_STRING = 8
TYPE_ARRAY = 9

# The .inp file holds the cases separated by this line; the .out file holds one line of ids per case.
CASE_SEPARATOR = "\n__ggml_vocab_test__\n"


class GgufReader:
    def __init__(self, data: bytes):
        self._data = data
        self._pos = 0

    def _take(self, fmt: str):
        size = struct.calcsize(fmt)
        if self._pos + size > len(self._data):
            raise ValueError(f"truncated at byte {self._pos}")
        (value,) = struct.unpack_from(fmt, self._data, self._pos)
        self._pos += size
        return value

    def _string(self) -> str:
        length = self._take("<Q")
        raw = self._data[self._pos:self._pos + length]
        if len(raw) != length:
            raise ValueError(f"truncated string at byte {self._pos}")
        self._pos += length
        # Strict: a vocabulary entry that is not valid UTF-8 could not be carried through JSON unchanged.
        return raw.decode("utf-8")

    def _value(self, value_type: int):
        if value_type == TYPE_STRING:
            return self._string()
        if value_type == TYPE_ARRAY:
            item_type = self._take("<I")
            count = self._take("<Q")
            return [self._value(item_type) for _ in range(count)]
        fmt = SCALAR_FORMATS.get(value_type)
        if fmt is None:
            raise ValueError(f"unknown value type {value_type} at byte {self._pos}")
        return self._take(fmt)

    def metadata(self) -> dict:
        if self._data[:4] != GGUF_MAGIC:
            raise ValueError("not a GGUF file")
        self._pos = 4
        version = self._take("<I")
        if version != 3:
            raise ValueError(f"GGUF version {version}; only version 3 is read")
        self._take("<Q")  # tensor count: vocabulary-only files have none, and tensor infos follow the metadata
        kv_count = self._take("<Q")
        result = {}
        for _ in range(kv_count):
            key = self._string()
            value_type = self._take("<I")
            result[key] = self._value(value_type)
        return result


def read_cases(inp_path: Path, out_path: Path) -> list:
    # newline="" keeps "\r" and "\r\n" inside the cases exactly as written.
    with open(inp_path, encoding="utf-8", newline="") as f:
        raw = f.read()
    texts = []
    pos = 0
    while pos < len(raw):
        end = raw.find(CASE_SEPARATOR, pos)
        if end < 0:
            texts.append(raw[pos:])
            break
        texts.append(raw[pos:end])
        pos = end + len(CASE_SEPARATOR)
    with open(out_path, encoding="utf-8", newline="") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(texts) != len(lines):
        raise ValueError(f"{inp_path.name} has {len(texts)} cases but {out_path.name} has {len(lines)} lines")
    return [{"text": text, "ids": [int(t) for t in line.split()]} for text, line in zip(texts, lines)]


def extract(models: Path, name: str) -> dict:
    gguf_path = models / f"ggml-vocab-{name}.gguf"
    meta = GgufReader(gguf_path.read_bytes()).metadata()
    model = meta.get("tokenizer.ggml.model")
    if model != "gpt2":
        raise ValueError(f"{gguf_path.name}: tokenizer.ggml.model is {model!r}, not a byte-level BPE vocabulary")
    return {
        "source": f"llama.cpp models/{gguf_path.name}",
        "model": model,
        "pre": meta.get("tokenizer.ggml.pre"),
        "bos_id": meta.get("tokenizer.ggml.bos_token_id"),
        "eos_id": meta.get("tokenizer.ggml.eos_token_id"),
        "add_bos": meta.get("tokenizer.ggml.add_bos_token"),
        "tokens": meta["tokenizer.ggml.tokens"],
        "token_types": meta["tokenizer.ggml.token_type"],
        "merges": meta["tokenizer.ggml.merges"],
        "cases": read_cases(Path(f"{gguf_path}.inp"), Path(f"{gguf_path}.out")),
    }


def write_gzip_json(path: Path, value: dict) -> None:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    buffer = io.BytesIO()
    # mtime=0 and no file name in the header, so the same input always gives the same bytes.
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=9, mtime=0, filename="") as gz:
        gz.write(text.encode("utf-8"))
    path.write_bytes(buffer.getvalue())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=Path, required=True, help="llama.cpp's models/ folder")
    parser.add_argument("--out", type=Path, required=True, help="folder for <name>.json.gz")
    parser.add_argument("names", nargs="+", help="vocabulary names, e.g. gpt-2 llama-bpe qwen2")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.names:
        data = extract(args.models, name)
        target = args.out / f"{name}.json.gz"
        write_gzip_json(target, data)
        print(f"{target}: {len(data['tokens'])} tokens, {len(data['merges'])} merges, "
              f"{len(data['cases'])} cases, pre={data['pre']!r}, {target.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
