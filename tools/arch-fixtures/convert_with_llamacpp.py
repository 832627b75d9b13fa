"""Runs llama.cpp's own convert_hf_to_gguf.py on Debian's torch 1.13, without the transformers package.

Usage: /usr/bin/python3 convert_with_llamacpp.py LLAMA_CPP_DIR HF_FOLDER OUT.gguf

Two shims, nothing of llama.cpp copied:
- a stand-in `transformers` module whose AutoConfig always fails, so the converter reads config.json itself
  (it falls back to that on any error), and whose AutoTokenizer is never reached;
- the torch.float8_* dtype names torch 1.13 lacks, as placeholders the converter only uses as dictionary keys.
Every family is given the SentencePiece vocabulary path (the fixtures ship a tokenizer.model), which GPT-NeoX and
Falcon would otherwise read through AutoTokenizer.
"""
import sys
import types

import torch

llama_cpp, folder, output = sys.argv[1], sys.argv[2], sys.argv[3]

for name in ("float8_e4m3fn", "float8_e5m2"):
    if not hasattr(torch, name):
        setattr(torch, name, type(name, (), {})())


class _NoAutoConfig:
    @staticmethod
    def from_pretrained(*args, **kwargs):
        raise OSError("transformers is not installed; config.json is read directly")


class _NoAutoTokenizer:
    @staticmethod
    def from_pretrained(*args, **kwargs):
        raise OSError("transformers is not installed; use the SentencePiece vocabulary")


transformers = types.ModuleType("transformers")
transformers.AutoConfig = _NoAutoConfig
transformers.AutoTokenizer = _NoAutoTokenizer
sys.modules["transformers"] = transformers

sys.path.insert(0, llama_cpp + "/gguf-py")
sys.path.insert(0, llama_cpp)
import conversion.base as base  # noqa: E402

base.TextModel.set_vocab = base.TextModel._set_vocab_sentencepiece
from conversion import load_all_models  # noqa: E402

load_all_models()
for cls in list(base.ModelBase._model_classes.get(base.ModelType.TEXT, {}).values()):
    if "set_vocab" in cls.__dict__:
        cls.set_vocab = base.TextModel._set_vocab_sentencepiece

sys.argv = ["convert_hf_to_gguf.py", folder, "--outfile", output, "--outtype", "f32"]
import runpy  # noqa: E402

runpy.run_path(llama_cpp + "/convert_hf_to_gguf.py", run_name="__main__")
