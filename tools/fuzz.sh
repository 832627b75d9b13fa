#!/usr/bin/env bash
# Coverage-guided fuzzing of every model-file reader: SharpFuzz instruments the engine, AFL++ drives it.
#   tools/fuzz.sh [target|all] [seconds per target, default 120]
# Targets: gguf safetensors config index spm tokenizer-json llmc (tests/Fuzz/FuzzTargets.cs says what each reads).
# Needs Debian's afl++ (apt-get install afl++); installs SharpFuzz.CommandLine 2.3.0 into the cache folder.
# Each target starts from its valid model in tests/Fuzz/corpus; AFL++'s state is kept in the cache folder
# ($LLMCPU_FUZZ_CACHE, default $TMPDIR/llmcpu-fuzz), so a second run continues where the first stopped.
# Prints per target: executions, paths found, crashes and hangs saved. A crash's input goes, with a fix, into
# tests/Fuzz/findings/<target>/, where tests/Unit/Fuzz/FuzzInputReplayTests replays it on every test run.
set -euo pipefail
cd "$(dirname "$0")/.."
targets=(gguf safetensors config index spm tokenizer-json llmc)
which="${1:-all}"
seconds="${2:-120}"
[[ "$which" == all ]] || targets=("$which")
command -v afl-fuzz >/dev/null || { echo "afl-fuzz is missing: apt-get install afl++" >&2; exit 1; }

cache="${LLMCPU_FUZZ_CACHE:-${TMPDIR:-/tmp}/llmcpu-fuzz}"
mkdir -p "$cache"
[[ -x "$cache/tools/sharpfuzz" ]] || dotnet tool install SharpFuzz.CommandLine --version 2.3.0 --tool-path "$cache/tools" >/dev/null
dotnet build tests/Fuzz -c Release -nologo -clp:ErrorsOnly -o "$cache/bin" >/dev/null
# Instrumented in place, so only the copies in the cache; the tokenizer library is instrumented too, as damage to
# tokenizer.model is parsed there.
for assembly in LlmCpu.Engine.dll Microsoft.ML.Tokenizers.dll; do
  "$cache/tools/sharpfuzz" "$cache/bin/$assembly" >/dev/null 2>&1 || true  # says so when already instrumented
done

# AFL++ in a container: no core dumps to wait for, no CPU frequency control, no terminal.
export AFL_SKIP_BIN_CHECK=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_SKIP_CPUFREQ=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1
for target in "${targets[@]}"; do
  corpus=$(sed -n "s/^ *\[\"$target\"\] = \"\(.*\)\",$/\1/p" tests/Fuzz/FuzzTargets.cs | tail -1)
  file=$(sed -n "s/^ *\[\"$target\"\] = \"\(.*\)\",$/\1/p" tests/Fuzz/FuzzTargets.cs | head -1)
  [[ -n "$corpus" && -n "$file" ]] || { echo "unknown target $target" >&2; exit 2; }
  input="$cache/in/$target" output="$cache/out/$target"
  mkdir -p "$input" "$output"
  cp "tests/Fuzz/corpus/$corpus/$file" "$input/seed"
  resume=(-i "$input"); [[ -f "$output/default/fuzzer_stats" ]] && resume=(-i -)
  timeout $((seconds + 60)) afl-fuzz "${resume[@]}" -o "$output" -V "$seconds" -t 10000 -m none \
    -- dotnet "$cache/bin/LlmCpu.Fuzz.dll" "$target" "$PWD/tests/Fuzz/corpus/$corpus" >"$output/afl.log" 2>&1 || true
  stats="$output/default/fuzzer_stats"
  if [[ -f "$stats" ]]; then
    get() { sed -n "s/^$1 *: *//p" "$stats"; }
    echo "$target: $(get execs_done) executions in $(get run_time) s, $(get corpus_count) paths, $(get saved_crashes) crashes, $(get saved_hangs) hangs (findings in $output/default/crashes)"
  else
    echo "$target: afl-fuzz did not start; see $output/afl.log" >&2
  fi
done
