#!/usr/bin/env bash
# Regenerates fixtures/arch: tiny random models of each family in the Hugging Face layout, their GGUF conversions by
# llama.cpp's own convert_hf_to_gguf.py, and llama.cpp's first-step logits and greedy tokens for three prompts.
# GPT-J, which llama.cpp cannot convert or run, and Mistral's sliding window, which its converter drops, get their
# reference from torch_reference.py, a transcription of transformers' modeling code.
#
# Usage: tools/arch-fixtures/make_fixtures.sh [LLAMA_CPP_DIR]
# LLAMA_CPP_DIR: a llama.cpp source tree built with cmake in build/ (static libraries), commit de3ff815 for the
# committed outputs; default ~/.cache/llmcpu/llama.cpp-de3ff815. Needs Debian's python3-torch, python3-numpy,
# python3-sentencepiece and g++; runs /usr/bin/python3.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
llama_cpp="${1:-$HOME/.cache/llmcpu/llama.cpp-de3ff815}"
out="$repo/fixtures/arch"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python=/usr/bin/python3
prompts=("It is a truth universally acknowledged" "Anne walked to the village" "The weather was fine, and")

g++ -O2 -std=c++17 -I"$llama_cpp/include" -I"$llama_cpp/ggml/include" "$here/llama_reference.cpp" \
  "$llama_cpp/build/src/libllama.a" "$llama_cpp/build/ggml/src/libggml.a" "$llama_cpp/build/ggml/src/libggml-cpu.a" \
  "$llama_cpp/build/ggml/src/libggml-base.a" -fopenmp -lpthread -ldl -o "$work/llama_reference"

"$python" "$here/make_models.py" "$out" "$repo/fixtures/austen-llama/tokenizer.model"
for family in llama3 mistral qwen2 gptneox falcon-7b falcon-40b; do
  "$python" "$here/convert_with_llamacpp.py" "$llama_cpp" "$out/$family" "$out/$family/model-f32.gguf" > "$work/convert-$family.log" 2>&1 \
    || { cat "$work/convert-$family.log"; exit 1; }
  "$work/llama_reference" "$out/$family/model-f32.gguf" 16 "${prompts[@]}" > "$out/$family/llama-cpp.jsonl" 2> "$work/run-$family.log" \
    || { cat "$work/run-$family.log"; exit 1; }
done
for family in mistral gptj; do
  "$python" "$here/torch_reference.py" "$out/$family" 16 "${prompts[@]}" > "$out/$family/transformers.jsonl"
done
echo "fixtures written to $out"
