#!/usr/bin/env python3
"""Runs llama.cpp's own convert_hf_to_gguf.py on Debian's torch 1.13, without the transformers package.

Usage: convert-hf-to-gguf.py LLAMA_CPP_DIR [convert_hf_to_gguf.py arguments...]

Two gaps are bridged, nothing else is changed:
  * the converter imports AutoConfig from transformers; a stub module whose from_pretrained raises makes it fall
    back to reading config.json itself (its own documented fallback);
  * it names torch.float8_* dtypes, which torch 1.13 lacks; they are defined as distinct placeholder dtypes that no
    tensor of an F16/F32 checkpoint ever has.
"""
import runpy
import sys
import types
from pathlib import Path

import torch

if len(sys.argv) < 2:
    sys.exit(__doc__)
llama_dir = Path(sys.argv[1]).resolve()
script = llama_dir / "convert_hf_to_gguf.py"
if not script.is_file():
    sys.exit(f"{script} not found")


class _Unavailable:
    """Stands in for a transformers Auto class: any use says so, so the converter takes its config.json path."""

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        raise OSError(f"transformers is not installed; {cls.__name__} is a stub")


stub = types.ModuleType("transformers")
for name in ("AutoConfig", "AutoTokenizer"):
    setattr(stub, name, type(name, (_Unavailable,), {}))
sys.modules.setdefault("transformers", stub)

# Placeholders only compared against, never used to build tensors. Distinct integer dtypes keep the converter's
# dtype tables (dicts keyed by dtype) from collapsing two entries into one.
for name, stand_in in (("float8_e4m3fn", torch.int8), ("float8_e5m2", torch.uint8)):
    if not hasattr(torch, name):
        setattr(torch, name, stand_in)

sys.path.insert(0, str(llama_dir))
sys.path.insert(1, str(llama_dir / "gguf-py"))
sys.argv = [str(script)] + sys.argv[2:]
runpy.run_path(str(script), run_name="__main__")
