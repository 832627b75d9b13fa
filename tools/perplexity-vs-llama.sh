#!/usr/bin/env bash
# Measure-Perplexity beside llama.cpp's llama-perplexity on the same GGUF files, text and context.
# Usage: tools/perplexity-vs-llama.sh --help
set -euo pipefail

LLAMA_COMMIT=de3ff815

usage() {
    cat <<EOF
Usage: tools/perplexity-vs-llama.sh [options]

Converts the bundled model (fixtures/austen-llama) to an F16 GGUF with llama.cpp's own convert_hf_to_gguf.py,
quantizes it with llama-quantize to Q8_0, Q4_0 and Q4_K_M, and measures each file with llama-perplexity (plain, and
--kl-divergence against the F16 file) and with Measure-Perplexity (-Reference the F16 file), on the same text and
context. Prints one markdown table of both engines' figures, then two checks made with the engine's own scoring code
(bench/LlmCpu.Bench llama-logits): the KL figures computed from llama.cpp's stored predictions for both files of each
pair (the formulas, engine numerics aside), and how far the two engines' predictions for the same file lie apart.

Options:
  --text FILE     held-out text (default: /tmp/fixture-work/book_Persuasion_para.txt, written by
                  tools/fixture-model/prepare_data.sh)
  --bytes N       read the text's first N bytes, less the paragraph cut short (default 32768: about 8,200 tokens,
                  32 windows of 256)
  --context N     tokens per window, llama-perplexity's -c (default 256, the bundled model's context)
  --threads N     threads for both engines (default 2)
  -h, --help      this text

Needs: llama.cpp $LLAMA_COMMIT built in \$LLMCPU_CACHE/llama.cpp-$LLAMA_COMMIT (bench/compare.sh builds it there on
first use), Debian's python3-torch, python3-numpy, python3-sentencepiece and python3-tqdm (for the converter, run by
/usr/bin/python3 through tools/llama-cpp/convert-hf-to-gguf.py), and the .NET SDK. Files and logs go to
\$LLMCPU_CACHE/perplexity-vs-llama (LLMCPU_CACHE defaults to \$HOME/.cache/llmcpu).
EOF
}

text=/tmp/fixture-work/book_Persuasion_para.txt bytes=32768 context=256 threads=2
while [[ $# -gt 0 ]]; do
    case "$1" in
        --text) text="${2:?--text needs a file}"; shift 2 ;;
        --bytes) bytes="${2:?--bytes needs a number}"; shift 2 ;;
        --context) context="${2:?--context needs a number}"; shift 2 ;;
        --threads) threads="${2:?--threads needs a number}"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "perplexity-vs-llama.sh: unknown option '$1'" >&2; usage >&2; exit 64 ;;
    esac
done
for n in "$bytes" "$context" "$threads"; do
    [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "perplexity-vs-llama.sh: '$n' is not a positive whole number" >&2; exit 64; }
done

log() { printf '%s\n' "$*" >&2; }
fail() { log "perplexity-vs-llama.sh: $*"; exit 70; }
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${LLMCPU_CACHE:-$HOME/.cache/llmcpu}"
llama_dir="$cache/llama.cpp-$LLAMA_COMMIT"
llama_bin="$llama_dir/build/bin"
work="$cache/perplexity-vs-llama"
for t in llama-perplexity llama-quantize; do
    [[ -x "$llama_bin/$t" ]] || fail "$llama_bin/$t not found; bench/compare.sh --quick builds llama.cpp $LLAMA_COMMIT there"
done
[[ -f "$text" ]] || fail "$text not found; tools/fixture-model/prepare_data.sh writes it"
/usr/bin/python3 -c 'import torch, numpy, sentencepiece, tqdm' 2>/dev/null \
    || fail "the converter needs Debian's python3-torch python3-numpy python3-sentencepiece python3-tqdm (apt-get install -y ...)"
mkdir -p "$work"

# ---------------------------------------------------------------- the files
log "Text: the first $bytes bytes of $text, whole paragraphs"
head -c "$bytes" "$text" | sed '$d' >"$work/text.txt"
log "Converting fixtures/austen-llama to F16 GGUF with llama.cpp's convert_hf_to_gguf.py"
/usr/bin/python3 "$repo/tools/llama-cpp/convert-hf-to-gguf.py" "$llama_dir" "$repo/fixtures/austen-llama" \
    --outtype f16 --outfile "$work/austen-f16.gguf" >"$work/convert.log" 2>&1 || { tail -n 20 "$work/convert.log" >&2; fail "conversion failed"; }
quants=(q8_0 q4_0 q4_k_m)
for q in "${quants[@]}"; do
    "$llama_bin/llama-quantize" "$work/austen-f16.gguf" "$work/austen-$q.gguf" "${q^^}" >"$work/quantize-$q.log" 2>&1 \
        || { tail -n 20 "$work/quantize-$q.log" >&2; fail "llama-quantize $q failed"; }
done

# ---------------------------------------------------------------- llama.cpp
llama_ppl() { "$llama_bin/llama-perplexity" -c "$context" -t "$threads" "$@"; }
for m in f16 "${quants[@]}"; do
    log "llama-perplexity: austen-$m.gguf"
    # Plain perplexity; the predictions at the scored positions go to $m.kld for the checks below.
    llama_ppl -m "$work/austen-$m.gguf" -f "$work/text.txt" --kl-divergence-base "$work/$m.kld" >"$work/llama-$m.log" 2>&1 \
        || { tail -n 20 "$work/llama-$m.log" >&2; fail "llama-perplexity failed on $m"; }
done
for q in "${quants[@]}"; do
    log "llama-perplexity --kl-divergence: austen-$q.gguf against F16"
    llama_ppl -m "$work/austen-$q.gguf" --kl-divergence-base "$work/f16.kld" --kl-divergence >"$work/llama-kld-$q.log" 2>&1 \
        || { tail -n 20 "$work/llama-kld-$q.log" >&2; fail "llama-perplexity --kl-divergence failed on $q"; }
done

# ---------------------------------------------------------------- LlmCpu
log "Building LlmCpu (Release): src/Host, bench/LlmCpu.Bench"
for project in src/Host bench/LlmCpu.Bench; do
    dotnet build "$repo/$project" -c Release --nologo -v quiet >"$work/build.log" 2>&1 || { tail -n 20 "$work/build.log" >&2; fail "dotnet build $project failed"; }
done
host="$repo/src/Host/bin/Release/net10.0/llmcpu.dll"
bench="$repo/bench/LlmCpu.Bench/bin/Release/net10.0/LlmCpu.Bench.dll"
log "Measure-Perplexity on the same files"
dotnet "$host" -Command "
    \$f16 = Import-Model '$work/austen-f16.gguf'
    \$f16 | Measure-Perplexity -Path '$work/text.txt' -ContextLength $context -Threads $threads | ConvertTo-Json -Compress
    foreach (\$q in '${quants[*]}' -split ' ') {
        Import-Model \"$work/austen-\$q.gguf\" | Measure-Perplexity -Path '$work/text.txt' -ContextLength $context -Reference \$f16 -Threads $threads |
            ConvertTo-Json -Compress
    }" >"$work/llmcpu.jsonl" 2>"$work/llmcpu.log" || { tail -n 20 "$work/llmcpu.log" >&2; fail "Measure-Perplexity failed"; }

log "Checks with the engine's scoring code"
: >"$work/checks.jsonl"
for q in "${quants[@]}"; do dotnet "$bench" llama-logits "$work/f16.kld" "$work/$q.kld" >>"$work/checks.jsonl"; done
for m in f16 "${quants[@]}"; do dotnet "$bench" llama-logits "$work/$m.kld" "$work/austen-$m.gguf" "$work/text.txt" "$threads" >>"$work/checks.jsonl"; done

# ---------------------------------------------------------------- the table
cpu="$( (lscpu 2>/dev/null || true) | sed -n 's/^Model name: *//p' | head -n 1)"
flags=" $(sed -n 's/^flags[[:space:]]*: //p' /proc/cpuinfo | head -n 1) "
isa=""
for f in avx2 avx512f avx512bw avx512_vnni avx_vnni; do [[ "$flags" == *" $f "* ]] && isa+="$f "; done
kernels="$(dotnet "$host" -Command '[string][LlmCpu.Kernels.KernelDispatch]::Best' 2>/dev/null || echo unknown)"
header="CPU: ${cpu:-unknown} ($(nproc) logical CPUs; ${isa% }); threads: $threads; date: $(date -u '+%Y-%m-%d'); llama.cpp: $LLAMA_COMMIT; LlmCpu: $(git -C "$repo" rev-parse --short=8 HEAD), kernel path $kernels"
python3 - "$work" "$header" "${quants[@]}" <<'PY' | tee "$work/table.md"
import json, re, sys
work, header, quants = sys.argv[1], sys.argv[2], sys.argv[3:]
def grab(path, pattern):
    m = re.search(pattern, open(path, encoding="utf-8", errors="replace").read(), re.M)
    return [float(g) for g in m.groups()] if m else None
ours = {}
for line in open(f"{work}/llmcpu.jsonl"):
    if line.strip().startswith("{"):
        o = json.loads(line)
        ours[o["Model"].removeprefix("austen-")] = o
def pct(a, b): return f"{100 * (a / b - 1):+.2f}%"
print(header + "\n")
print(f"Text: {ours['f16']['TextTokens']} tokens, {ours['f16']['Windows']} windows of {ours['f16']['ContextLength']}, {ours['f16']['Tokens']} positions scored.\n")
print("| file | llama.cpp PPL | LlmCpu PPL | PPL diff | llama.cpp KLD | LlmCpu KLD | KLD diff | KLD p99 (llama / ours) | same top (llama / ours) | RMS Δp (llama / ours) | PPL ratio: llama printed / llama's two runs / ours |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
llama_f16 = grab(f"{work}/llama-f16.log", r"Final estimate: PPL = ([\d.]+) \+/- ([\d.]+)")
for m in ["f16"] + quants:
    o = ours[m]
    ppl = grab(f"{work}/llama-{m}.log", r"Final estimate: PPL = ([\d.]+) \+/- ([\d.]+)")
    row = [m.upper(), f"{ppl[0]:.4f} ± {ppl[1]:.4f}", f"{o['Perplexity']:.4f} ± {o['StandardError']:.4f}", pct(o["Perplexity"], ppl[0])]
    if m == "f16":
        row += ["–"] * 7
    else:
        kl = f"{work}/llama-kld-{m}.log"
        kld = grab(kl, r"Mean\s+KLD:\s+([\d.]+)")[0]
        p99 = grab(kl, r"99\.0%\s+KLD:\s+([\d.]+)")[0]
        same = grab(kl, r"Same top p:\s+([\d.]+)")[0]
        rms = grab(kl, r"RMS Δp\s+:\s+([\d.]+)")[0]
        ratio = grab(kl, r"Mean PPL\(Q\)/PPL\(base\)\s+:\s+([\d.]+)")[0]
        row += [f"{kld:.6f}", f"{o['KLDivergence']:.6f}", pct(o["KLDivergence"], kld),
                f"{p99:.6f} / {o['KLDivergenceP99']:.6f}", f"{same:.2f}% / {100 * o['SameTopTokenRate']:.2f}%",
                f"{rms:.3f}% / {100 * o['RmsProbabilityDelta']:.3f}%",
                f"{ratio:.5f} / {ppl[0] / llama_f16[0]:.5f} / {o['PerplexityRatio']:.5f}"]
    print("| " + " | ".join(row) + " |")
checks = [json.loads(l) for l in open(f"{work}/checks.jsonl") if l.strip()]
print("\nKL figures from llama.cpp's stored predictions alone, scored by the engine's code (set beside llama.cpp's own):\n")
print("| pair | KLD | KLD p99 | same top | RMS Δp |")
print("| --- | ---: | ---: | ---: | ---: |")
for c in checks:
    if c["tokensEqual"] is None:
        print(f"| {c['reference']} → {c['candidate']} | {c['klDivergence']:.6f} | {c['klDivergenceP99']:.6f} | {100 * c['sameTopTokenRate']:.2f}% | {100 * c['rmsProbabilityDelta']:.3f}% |")
print("\nThe two engines on the same file and tokens (llama.cpp's tokens), KL(LlmCpu || llama.cpp):\n")
print("| file | LlmCpu tokens of the text equal llama.cpp's | KLD | KLD p99 | same top | LlmCpu PPL on llama.cpp's tokens |")
print("| --- | --- | ---: | ---: | ---: | ---: |")
for c in checks:
    if c["tokensEqual"] is not None:
        print(f"| {c['reference']} | {'yes' if c['tokensEqual'] else 'no'} | {c['klDivergence']:.6f} | {c['klDivergenceP99']:.6f} | {100 * c['sameTopTokenRate']:.2f}% | {c['referencePerplexity']:.4f} |")
PY
log "Table: $work/table.md"
