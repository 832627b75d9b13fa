#!/usr/bin/env bash
# Side-by-side speed of LlmCpu and llama.cpp on the same model files, same threads, alternating rounds.
# Usage: bench/compare.sh --help
set -euo pipefail

LLAMA_COMMIT=de3ff815
NODE_LLAMA_CPP_VERSION=3.22.1   # the npm package whose llama/gitRelease.bundle holds llama.cpp at $LLAMA_COMMIT

usage() {
    cat <<EOF
Usage: bench/compare.sh [options]

Runs llama.cpp's llama-bench and LlmCpu's 'model' benchmark (pp512 and tg128) on the same files at the
same thread count, alternately (llama.cpp, LlmCpu, llama.cpp, LlmCpu, ...), and prints one markdown table.

Options:
  --rounds N     alternating rounds per file (default 2)
  --threads N    threads for both engines (default 2)
  --reps N       repetitions per run, after one warm-up (default 3)
  --quick        smoke test: one round, one repetition
  --types LIST   the 1.1B files to compare, comma-separated, from q4_0, q4_k_m, f16, llmc, q8_0, q5_k_m
                 (default q4_0,q4_k_m,f16,llmc; none: only the 7B files of --with-7b)
  --with-7b      also Llama-2-7B-shaped files (Q4_0 and Q4_K_M GGUFs and .llmc, about 4 GB each; the Q4_K_M
                 file is quantized from a 13 GB F16 file, written and removed on the first run)
  --families LIST
                 also other families llama.cpp runs, as Q4_0 GGUFs, comma-separated: pythia (Pythia-1.4B,
                 GPT-NeoX, 0.8 GB), falcon (Falcon-7B, 3.9 GB); with llmc among --types (or --types none), also
                 their INT4 g128 .llmc files, converted from the GGUFs by ConvertTo-Int4Model
  --no-mmap      both engines read the files into memory instead of mapping them (llama-bench -lm none,
                 LlmCpu --no-mmap; for LlmCpu this changes only the .llmc file, whose weights are used in place)
  --batched      compare batched decode instead of pp512/tg128: llama.cpp's llama-batched-bench against
                 LlmCpu's 'batch' benchmark, 1, 2, 4, 8 and 16 sequences decoding at once, each with a prompt of
                 about 16 tokens and 32 generated tokens; the figure is the aggregate decode speed (all sequences'
                 tokens over the decode steps' time, prompts excluded), one row per batch size
  --remake-models
                 write the model files again (after a change to their writers or to the file format)
  -h, --help     this text

Environment:
  LLMCPU_CACHE   cache folder (default \$HOME/.cache/llmcpu); holds
                   llama.cpp-$LLAMA_COMMIT/   llama.cpp source and build (built on first use)
                   compare-models/       the synthetic model files (written on first use)
                   compare-results/      raw JSON lines, logs and the table of each run
  JOBS           parallel jobs for the llama.cpp build (default 2)
  OMP_WAIT_POLICY  how llama.cpp's OpenMP threads wait (default here: passive; see bench/README.md)

Files compared (random weights with the exact shapes of TinyLlama-1.1B, and of the models --with-7b and
--families name, written by New-SyntheticModel):
  *-q4_0.gguf     Q4_0 GGUF, both engines
  *-q4_k_m.gguf   Q4_K_M GGUF (llama-quantize from the F16 file), both engines
  *-f16.gguf      F16 GGUF, both engines
  *-q8_0.gguf, *-q5_k_m.gguf
                  Q8_0 and Q5_K_M GGUFs (llama-quantize from the F16 file), both engines; only with --types
  *.llmc          LlmCpu INT4 g128 file; llama.cpp cannot read it, so its row sets LlmCpu on the .llmc
                  against llama.cpp on the Q4_0 GGUF of the same shape
EOF
}

rounds=2 threads=2 reps=3 quick=0 with7b=0 remake=0 types=q4_0,q4_k_m,f16,llmc nommap=0 batched=0 families=
while [[ $# -gt 0 ]]; do
    case "$1" in
        --rounds) rounds="${2:?--rounds needs a number}"; shift 2 ;;
        --threads) threads="${2:?--threads needs a number}"; shift 2 ;;
        --reps) reps="${2:?--reps needs a number}"; shift 2 ;;
        --quick) quick=1; shift ;;
        --types) types="${2:?--types needs a list}"; shift 2 ;;
        --with-7b) with7b=1; shift ;;
        --families) families="${2:?--families needs a list}"; shift 2 ;;
        --remake-models) remake=1; shift ;;
        --no-mmap) nommap=1; shift ;;
        --batched) batched=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "compare.sh: unknown option '$1'" >&2; usage >&2; exit 64 ;;
    esac
done
if [[ $quick == 1 ]]; then rounds=1 reps=1; fi
[[ $types == none ]] && types=""
IFS=, read -ra type_list <<<"$types"
for t in "${type_list[@]}"; do
    case "$t" in q4_0|q4_k_m|f16|llmc|q8_0|q5_k_m) ;; *) echo "compare.sh: unknown type '$t' in --types" >&2; exit 64 ;; esac
done
IFS=, read -ra family_list <<<"$families"
for f in "${family_list[@]}"; do
    case "$f" in pythia|falcon) ;; *) echo "compare.sh: unknown family '$f' in --families" >&2; exit 64 ;; esac
done
for n in "$rounds" "$threads" "$reps"; do
    [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "compare.sh: '$n' is not a positive whole number" >&2; exit 64; }
done

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${LLMCPU_CACHE:-$HOME/.cache/llmcpu}"
llama_dir="$cache/llama.cpp-$LLAMA_COMMIT"
llama_bin="$llama_dir/build/bin"
models="$cache/compare-models"
results="$cache/compare-results"
jobs="${JOBS:-2}"
# llama.cpp's CPU backend runs its threads through OpenMP. With OpenMP's active waiting a thread spins at every
# barrier; on a machine shared with other work the spinning thread holds the core that the thread it waits for
# needs, and decoding slows several times over. Passive waiting unless the caller chooses otherwise.
omp_wait="${OMP_WAIT_POLICY:-passive}"
llama_targets=(llama-bench llama-batched-bench llama-perplexity llama-quantize llama-simple llama-tokenize)

log() { printf '%s\n' "$*" >&2; }
need() { command -v "$1" >/dev/null || { log "compare.sh: '$1' is required and was not found"; exit 69; }; }
need python3
need dotnet

# ---------------------------------------------------------------- llama.cpp
build_llama() {
    local missing=0 t
    for t in "${llama_targets[@]}"; do [[ -x "$llama_bin/$t" ]] || missing=1; done
    if [[ $missing == 0 ]]; then
        log "llama.cpp $LLAMA_COMMIT: $llama_bin (present)"
        return
    fi
    need git; need cmake; need npm; need tar
    mkdir -p "$cache"
    if [[ ! -d "$llama_dir/.git" ]]; then
        local pkg="$cache/node-llama-cpp-$NODE_LLAMA_CPP_VERSION"
        if [[ ! -f "$pkg/package/llama/gitRelease.bundle" ]]; then
            log "Fetching node-llama-cpp@$NODE_LLAMA_CPP_VERSION (it carries llama.cpp $LLAMA_COMMIT as a git bundle)"
            rm -rf "$pkg"; mkdir -p "$pkg"
            (cd "$pkg" && npm pack --silent "node-llama-cpp@$NODE_LLAMA_CPP_VERSION" >/dev/null && tar xzf node-llama-cpp-*.tgz)
        fi
        rm -rf "$llama_dir.partial"
        git -c advice.detachedHead=false clone --quiet "$pkg/package/llama/gitRelease.bundle" "$llama_dir.partial"
        mv "$llama_dir.partial" "$llama_dir"
    fi
    local head
    head="$(git -C "$llama_dir" rev-parse HEAD)"
    if [[ "$head" != "$LLAMA_COMMIT"* ]]; then
        log "compare.sh: $llama_dir is at $head, not $LLAMA_COMMIT"; exit 70
    fi
    local generator=()
    command -v ninja >/dev/null && generator=(-G Ninja)
    log "Building llama.cpp $LLAMA_COMMIT in $llama_dir/build (-j$jobs; a few minutes)"
    local start=$SECONDS
    # Static binaries tuned for this CPU; no tests, no server, no HTTPS download support (not needed here).
    cmake -S "$llama_dir" -B "$llama_dir/build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
        -DGGML_NATIVE=ON -DBUILD_SHARED_LIBS=OFF -DGGML_CCACHE=OFF \
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_OPENSSL=OFF >"$llama_dir/cmake-configure.log" 2>&1 \
        || { tail -n 30 "$llama_dir/cmake-configure.log" >&2; exit 70; }
    cmake --build "$llama_dir/build" --target "${llama_targets[@]}" -j "$jobs" >"$llama_dir/cmake-build.log" 2>&1 \
        || { tail -n 30 "$llama_dir/cmake-build.log" >&2; exit 70; }
    log "llama.cpp $LLAMA_COMMIT built in $((SECONDS - start)) s: $llama_bin"
}

# ---------------------------------------------------------------- LlmCpu
build_llmcpu() {
    log "Building LlmCpu (Release): bench/LlmCpu.Bench, src/Host"
    local project out
    for project in bench/LlmCpu.Bench src/Host; do
        out="$(dotnet build "$repo/$project" -c Release --nologo -v quiet 2>&1)" \
            || { printf '%s\n' "$out" >&2; log "compare.sh: dotnet build $project failed"; exit 70; }
    done
}
bench_out="$repo/bench/LlmCpu.Bench/bin/Release/net10.0"
host_dll="$repo/src/Host/bin/Release/net10.0/llmcpu.dll"

# ---------------------------------------------------------------- model files
synthetic() { # shape destination format
    local shape="$1" dest="$2" format="$3"
    [[ -f "$dest" ]] && return
    log "Writing $dest ($shape, $format)"
    local quoted="${dest//\'/\'\'}"
    dotnet "$host_dll" -Command "New-SyntheticModel -Shape $shape -Destination '$quoted' -Format $format | Out-Null" >&2
    [[ -f "$dest" ]] || { log "compare.sh: New-SyntheticModel did not write $dest"; exit 70; }
}
convert() { # source destination: an INT4 g128 .llmc file by ConvertTo-Int4Model (round to nearest)
    local src="$1" dest="$2"
    [[ -f "$dest" ]] && return
    log "Converting $src to $dest (INT4 g128)"
    local qs="${src//\'/\'\'}" qd="${dest//\'/\'\'}"
    dotnet "$host_dll" -Command "ConvertTo-Int4Model -Path '$qs' -Destination '$qd' -GroupSize 128 -Recipe RoundToNearest -WarningAction SilentlyContinue | Out-Null" >&2
    [[ -f "$dest" ]] || { log "compare.sh: ConvertTo-Int4Model did not write $dest"; exit 70; }
}
quantize() { # source destination type
    local src="$1" dest="$2" type="$3"
    [[ -f "$dest" ]] && return
    log "Quantizing $src to $type"
    "$llama_bin/llama-quantize" "$src" "$dest.partial" "$type" >"$dest.log" 2>&1 \
        || { tail -n 20 "$dest.log" >&2; rm -f "$dest.partial"; exit 70; }
    mv "$dest.partial" "$dest"; rm -f "$dest.log"
}
family_file() { case "$1" in pythia) echo pythia-1.4b ;; falcon) echo falcon-7b ;; esac; }
make_models() {
    mkdir -p "$models"
    if [[ $remake == 1 ]]; then
        rm -f "$models"/tinyllama-1.1b-* "$models"/llama-2-7b-* "$models"/pythia-1.4b-* "$models"/falcon-7b-*
        remake=0
    fi
    local t="$models/tinyllama-1.1b"
    synthetic TinyLlama-1.1B "$t-q4_0.gguf" GgufQ4_0
    synthetic TinyLlama-1.1B "$t-f16.gguf" GgufF16
    synthetic TinyLlama-1.1B "$t-int4-g128.llmc" Llmc
    quantize "$t-f16.gguf" "$t-q4_k_m.gguf" Q4_K_M
    if [[ ",$types," == *,q8_0,* ]]; then quantize "$t-f16.gguf" "$t-q8_0.gguf" Q8_0; fi
    if [[ ",$types," == *,q5_k_m,* ]]; then quantize "$t-f16.gguf" "$t-q5_k_m.gguf" Q5_K_M; fi
    if [[ $with7b == 1 ]]; then
        local s="$models/llama-2-7b"
        synthetic Llama-2-7B "$s-q4_0.gguf" GgufQ4_0
        synthetic Llama-2-7B "$s-int4-g128.llmc" Llmc
        if [[ ! -f "$s-q4_k_m.gguf" ]]; then
            # The 13 GB F16 source is needed only to make the Q4_K_M file.
            synthetic Llama-2-7B "$s-f16.gguf" GgufF16
            quantize "$s-f16.gguf" "$s-q4_k_m.gguf" Q4_K_M
            rm -f "$s-f16.gguf"
        fi
    fi
    local f
    for f in "${family_list[@]}"; do
        case "$f" in
            pythia) synthetic Pythia-1.4B "$models/pythia-1.4b-q4_0.gguf" GgufQ4_0 ;;
            falcon) synthetic Falcon-7B "$models/falcon-7b-q4_0.gguf" GgufQ4_0 ;;
        esac
        # The family's .llmc file, converted from its Q4_0 GGUF (New-SyntheticModel writes .llmc files for Llamas only).
        if [[ ",$types," == *,llmc,* || -z "$types" ]]; then
            convert "$models/$(family_file "$f")-q4_0.gguf" "$models/$(family_file "$f")-int4-g128.llmc"
        fi
    done
}

# ---------------------------------------------------------------- runs
# Pairs: "file LlmCpu reads|file llama.cpp reads".
pairs() {
    local t="$models/tinyllama-1.1b" type
    for type in "${type_list[@]}"; do
        case "$type" in
            llmc) echo "$t-int4-g128.llmc|$t-q4_0.gguf" ;;
            *) echo "$t-$type.gguf|$t-$type.gguf" ;;
        esac
    done
    if [[ $with7b == 1 ]]; then
        local s="$models/llama-2-7b"
        echo "$s-q4_0.gguf|$s-q4_0.gguf"
        echo "$s-q4_k_m.gguf|$s-q4_k_m.gguf"
        echo "$s-int4-g128.llmc|$s-q4_0.gguf"
    fi
    local f
    for f in "${family_list[@]}"; do
        local g="$models/$(family_file "$f")"
        echo "$g-q4_0.gguf|$g-q4_0.gguf"
        if [[ ",$types," == *,llmc,* || -z "$types" ]]; then echo "$g-int4-g128.llmc|$g-q4_0.gguf"; fi
    done
}

# Appends normalized JSON lines (one per test) to $raw; the engine's own figures are kept under "raw".
record() { # engine round ours-file llama-file output-file
    python3 - "$@" >>"$raw" <<'PY'
import json, os, sys
engine, rnd, ours, theirs, out = sys.argv[1:6]
row = os.path.basename(ours) + ("" if ours == theirs else " | " + os.path.basename(theirs))
text = open(out).read()
def batch_test(sequences):
    return f"decode, {sequences} sequence{'s' if sequences > 1 else ''}"
# Batched decode, one JSON line per batch size: what marks an engine's lines, its name in the table, the file it read,
# and the fields of the batch size and of the aggregate decode speed (llama-batched-bench's speed_tg is pl * tg
# tokens over the decode steps' time).
batched = {
    "llama.cpp-batched": ("speed_tg", "llama.cpp", theirs, "pl", "speed_tg"),
    "LlmCpu-batched": ('"batch-decode"', "LlmCpu", ours, "sequences", "tokensPerSecond"),
}
if engine in batched:
    marker, name, file, size, speed = batched[engine]
    waiting = {"ompWaitPolicy": os.environ.get("OMP_WAIT_POLICY", "")} if name == "llama.cpp" else {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{") and marker in line:
            o = json.loads(line)
            print(json.dumps({"engine": name, "round": int(rnd), "row": row, "file": file, "test": batch_test(o[size]),
                              **waiting, "tokensPerSecond": o[speed], "sd": 0, "raw": o}))
elif engine == "llama.cpp":
    start = text.find("[")
    items = json.loads(text[start:]) if start >= 0 else []
    for o in items:
        test = f"pp{o['n_prompt']}" if o.get("n_gen", 0) == 0 else f"tg{o['n_gen']}"
        print(json.dumps({"engine": engine, "round": int(rnd), "row": row, "file": theirs, "test": test,
                          "ompWaitPolicy": os.environ.get("OMP_WAIT_POLICY", ""),
                          "tokensPerSecond": o["avg_ts"], "sd": o["stddev_ts"], "raw": o}))
else:
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        o = json.loads(line)
        if "test" in o:
            print(json.dumps({"engine": engine, "round": int(rnd), "row": row, "file": ours, "test": o["test"],
                              "tokensPerSecond": o["tokensPerSecond"], "sd": o["sd"], "raw": o}))
PY
}

run_llama() { # round ours-file llama-file
    local out="$work/llama.out"
    if ! OMP_WAIT_POLICY="$omp_wait" "$llama_bin/llama-bench" -m "$3" -t "$threads" -p 512 -n 128 -r "$reps" $([[ $nommap == 1 ]] && echo "-lm none") -o json >"$out" 2>>"$logfile"; then
        log "compare.sh: llama-bench failed on $3 (log: $logfile)"; exit 70
    fi
    OMP_WAIT_POLICY="$omp_wait" record llama.cpp "$1" "$2" "$3" "$out"
}
run_ours() { # round ours-file llama-file
    local out="$work/llmcpu.out"
    if ! dotnet "$bench_dll" model "$2" "$threads" "$reps" $([[ $nommap == 1 ]] && echo --no-mmap) >"$out" 2>>"$logfile"; then
        log "compare.sh: LlmCpu.Bench failed on $2 (log: $logfile)"; exit 70
    fi
    record LlmCpu "$1" "$2" "$3" "$out"
}
# Batched decode: the batch sizes, the tokens each sequence generates, and a prompt length near LlmCpu's bench prompts.
batch_sizes=1,2,4,8,16 batch_tokens=32 batch_prompt=16
run_llama_batched() { # round ours-file llama-file
    local out="$work/llama.out"
    # Context for the largest batch: every sequence's prompt and tokens (the prompts are not shared).
    if ! OMP_WAIT_POLICY="$omp_wait" "$llama_bin/llama-batched-bench" -m "$3" -t "$threads" -tb "$threads" -c 1024 -b 512 -ub 512 \
        -npp "$batch_prompt" -ntg "$batch_tokens" -npl "$batch_sizes" $([[ $nommap == 1 ]] && echo "-lm none") \
        --output-format jsonl >"$out" 2>>"$logfile"; then
        log "compare.sh: llama-batched-bench failed on $3 (log: $logfile)"; exit 70
    fi
    OMP_WAIT_POLICY="$omp_wait" record llama.cpp-batched "$1" "$2" "$3" "$out"
}
run_ours_batched() { # round ours-file llama-file
    local out="$work/llmcpu.out"
    if ! dotnet "$bench_dll" batch "$2" "$threads" "$batch_tokens" 1 $([[ $nommap == 1 ]] && echo --no-mmap) >"$out" 2>>"$logfile"; then
        log "compare.sh: LlmCpu.Bench batch failed on $2 (log: $logfile)"; exit 70
    fi
    record LlmCpu-batched "$1" "$2" "$3" "$out"
}
last_figures() { # engine: "pp512 x t/s, tg128 y t/s" of the last record of that engine
    python3 - "$raw" "$1" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rows = [r for r in rows if r["engine"] == sys.argv[2]]
last = [r for r in rows if (r["round"], r["row"]) == (rows[-1]["round"], rows[-1]["row"])]
print(", ".join(f"{r['test']} {r['tokensPerSecond']:.2f} t/s" for r in last))
PY
}

# ---------------------------------------------------------------- main
total_start=$SECONDS
build_llama
build_llmcpu
make_models

mkdir -p "$results"
stamp="$(date -u +%Y%m%d-%H%M%S)"
raw="$results/compare-$stamp.jsonl"
logfile="$results/compare-$stamp.log"
table="$results/compare-$stamp.md"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
: >"$raw"
# The runs use a copy of the bench's build, so that a rebuild in the repository during the runs changes nothing.
cp -r "$bench_out" "$work/bench"
bench_dll="$work/bench/LlmCpu.Bench.dll"
llmcpu_commit="$(git -C "$repo" rev-parse --short=8 HEAD 2>/dev/null || echo unknown)"
[[ -z "$(git -C "$repo" status --porcelain --untracked-files=no -- src bench/LlmCpu.Bench 2>/dev/null)" ]] \
    || llmcpu_commit+=" with uncommitted changes"

cpu="$( (lscpu 2>/dev/null || true) | sed -n 's/^Model name: *//p' | head -n 1)"
[[ -n "$cpu" ]] || cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
family="$(sed -n 's/^cpu family[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
cpumodel="$(sed -n 's/^model[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
flags=" $(sed -n 's/^flags[[:space:]]*: //p' /proc/cpuinfo | head -n 1) "
isa=""
for f in avx2 avx512f avx512bw avx512_vnni avx_vnni; do
    if [[ "$flags" == *" $f "* ]]; then isa+="$f "; else isa+="no-$f "; fi
done
commit="$(git -C "$llama_dir" rev-parse --short=8 HEAD)"
ggml="$(sed -n 's/^set(GGML_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)).*/\2/p' "$llama_dir/ggml/CMakeLists.txt" | paste -sd.)"
load_start="$(cut -d' ' -f1 /proc/loadavg)"
header="CPU: ${cpu:-unknown} (family ${family:-?}, model ${cpumodel:-?}, $(nproc) logical CPUs); ISA: ${isa% }; threads: $threads; date: $(date -u '+%Y-%m-%d %H:%M UTC'); LlmCpu: $llmcpu_commit; llama.cpp: $commit (ggml $ggml, OMP_WAIT_POLICY=$omp_wait); rounds: $rounds, repetitions: $reps; files $([[ $nommap == 1 ]] && echo "read into memory (--no-mmap)" || echo "mapped")"

log "Comparing: $rounds round(s), $threads thread(s), $reps repetition(s); raw figures: $raw"
mapfile -t pair_list < <(pairs)
run_theirs=run_llama run_mine=run_ours
if [[ $batched == 1 ]]; then run_theirs=run_llama_batched run_mine=run_ours_batched; fi
for ((r = 1; r <= rounds; r++)); do
    for p in "${pair_list[@]}"; do
        ours="${p%%|*}" theirs="${p##*|}"
        "$run_theirs" "$r" "$ours" "$theirs"
        log "[round $r/$rounds] llama.cpp $(basename "$theirs"): $(last_figures llama.cpp)"
        "$run_mine" "$r" "$ours" "$theirs"
        log "[round $r/$rounds] LlmCpu    $(basename "$ours"): $(last_figures LlmCpu)"
    done
done

header+="; load average (1 min) at start: $load_start, at end: $(cut -d' ' -f1 /proc/loadavg)"
python3 - "$raw" "$header" >"$table" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
order, data, precision, isa = [], {}, {}, set()
for r in rows:
    key = (r["row"], r["test"])
    if key not in order:
        order.append(key)
    data.setdefault(key, {}).setdefault(r["engine"], []).append(r["tokensPerSecond"])
    if r["engine"] == "LlmCpu":
        precision[r["row"]] = r["raw"].get("precision", "")
        isa.add(str(r["raw"].get("isa", "")))
def cell(v):
    if not v:
        return "–"
    mean = sum(v) / len(v)
    return f"{mean:.2f}" if len(v) == 1 else f"{mean:.2f} ({min(v):.2f}–{max(v):.2f})"
print(sys.argv[2] + (f"; LlmCpu kernels: {', '.join(sorted(isa))}" if isa else ""))
print()
print("| file | test | llama.cpp t/s | LlmCpu t/s | LlmCpu / llama.cpp |")
print("| --- | --- | ---: | ---: | ---: |")
for key in order:
    row, test = key
    l, o = data[key].get("llama.cpp", []), data[key].get("LlmCpu", [])
    ratio = f"{(sum(o) / len(o)) / (sum(l) / len(l)):.2f}" if l and o else "–"
    ours, _, theirs = row.partition(" | ")
    notes = [f"LlmCpu: {precision[row]}"] if precision.get(row) else []
    if theirs:
        notes.append(f"llama.cpp: `{theirs}`")
    name = f"`{ours}`" + (f" ({'; '.join(notes)})" if notes else "")
    print(f"| {name} | {test} | {cell(l)} | {cell(o)} | {ratio} |")
PY

echo
cat "$table"
echo
log "llama.cpp binaries: $llama_bin"
[[ -s "$logfile" ]] || rm -f "$logfile"
log "Raw JSON lines: $raw"
log "Table: $table"
log "Done in $((SECONDS - total_start)) s"
