#!/usr/bin/env bash
# The project's test command (README "Tests"): build in Release, run every unit test, print a summary line.
set -euo pipefail
cd "$(dirname "$0")/.."
results="$(mktemp -d)"
dotnet build LlmCpu.sln -c Release -nologo -clp:ErrorsOnly
status=0
dotnet test tests/Unit/LlmCpu.Tests.csproj -c Release --no-build --nologo \
  --logger "console;verbosity=normal" --logger "trx;LogFileName=unit.trx" --results-directory "$results" || status=$?
python3 tools/trx-summary.py "$results"/unit.trx
exit $status
