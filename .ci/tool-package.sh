#!/usr/bin/env bash
# The README's .NET tool way: pack llmcpu (after a Release build), install it from the package into a scratch
# folder with its own NuGet cache (so a package of the same version cached earlier cannot stand in for this one),
# and run it: its version, a greedy generation checked against the reference tokens, help from the packaged module.
set -euo pipefail
cd "$(dirname "$0")/.."

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
dotnet pack src/Host -c Release --no-build -nologo -o "$scratch/source"
NUGET_PACKAGES="$scratch/nuget" dotnet tool install llmcpu --tool-path "$scratch/tool" --add-source "$scratch/source" \
  --version "$(sed -n "s/.*ModuleVersion *= *'\([0-9.]*\)'.*/\1/p" LlmCpu.psd1)"
llmcpu="$scratch/tool/llmcpu"

"$llmcpu" -Version
# The reference's first 8 greedy tokens for 'She was not' (fixtures/austen-llama/reference.json).
expected="$(python3 -c "import json; p = json.load(open('fixtures/austen-llama/reference.json'))['prompts'][2]; print(','.join(map(str, p['greedy'][:8])))")"
actual="$("$llmcpu" -Command "(Import-Model | Invoke-Generation -Prompt 'She was not' -Temperature 0 -MaxTokens 8).TokenIds -join ','")"
[[ "$actual" == "$expected" ]] || { echo "installed llmcpu generated $actual, expected $expected" >&2; exit 1; }
echo "installed llmcpu: greedy tokens match the reference ($actual)"
"$llmcpu" -Command "Get-Help about_LlmCpu | Out-String" | grep -q 'Runs large language models on ordinary CPUs' \
  || { echo "installed llmcpu: Get-Help about_LlmCpu does not show the topic" >&2; exit 1; }
"$llmcpu" -Command "(Get-Help Import-Model).Synopsis" | grep -q 'Loads a language model from disk' \
  || { echo "installed llmcpu: Get-Help Import-Model does not show the synopsis" >&2; exit 1; }
echo "installed llmcpu: help from the packaged module works"
