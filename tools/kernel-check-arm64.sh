#!/usr/bin/env bash
# Runs tests/KernelCheck as an ARM64 (linux-arm64) program under qemu's user-mode emulation: the portable 128-bit
# path there takes its AdvSimd branches (PortableLanes), which no x64 process executes, and every kernel is compared
# with the scalar reference as on x64. Correctness only: emulated timings say nothing about an ARM64 processor.
#
#   tools/kernel-check-arm64.sh          # publish, run, exit 0 when every comparison passed
#
# Needs qemu-aarch64 and an ARM64 C library (Debian: qemu-user, libc6-arm64-cross, libstdc++6-arm64-cross); run as
# root, it installs them with apt-get when they are missing. The self-contained program goes to
# ${LLMCPU_CACHE:-$HOME/.cache/llmcpu}/kernel-check-arm64. About forty seconds on two idle cores, most of it the
# emulated JIT.
set -euo pipefail
cd "$(dirname "$0")/.."

sysroot=/usr/aarch64-linux-gnu
if ! command -v qemu-aarch64 >/dev/null || [[ ! -e "$sysroot/lib/ld-linux-aarch64.so.1" ]]; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q qemu-user libc6-arm64-cross libstdc++6-arm64-cross >/dev/null
  else
    echo "qemu-aarch64 and an ARM64 C library in $sysroot are needed (Debian: apt-get install qemu-user libc6-arm64-cross libstdc++6-arm64-cross)" >&2
    exit 2
  fi
fi

out="${LLMCPU_CACHE:-$HOME/.cache/llmcpu}/kernel-check-arm64"
dotnet publish tests/KernelCheck -c Release -r linux-arm64 --self-contained -o "$out" -nologo -clp:ErrorsOnly

# The emulated process has no ICU (invariant globalization), and compiles each method once, optimized, instead of
# twice (tiered compilation), since emulated JIT time dominates the run.
DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 DOTNET_TieredCompilation=0 qemu-aarch64 -L "$sysroot" "$out/LlmCpu.KernelCheck"
