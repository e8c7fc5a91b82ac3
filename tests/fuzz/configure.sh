#!/usr/bin/env bash
# Configures BUILD_DIR (default build-asan) as the one clang build that the sanitizer tests and the fuzzers
# share: AddressSanitizer + UndefinedBehaviorSanitizer on everything, libFuzzer's coverage instrumentation too
# (HEARTH_FUZZ), -O1 so that the fuzzers and the tests run at a useful speed. No CUDA, no MPI.
#   tests/fuzz/configure.sh [BUILD_DIR]     (CXX_FUZZ / CC_FUZZ pick the compilers, default clang++-14 / clang-14)
set -euo pipefail
build=${1:-build-asan}
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
cxx=${CXX_FUZZ:-$(command -v clang++-14 || command -v clang++)}
cc=${CC_FUZZ:-$(command -v clang-14 || command -v clang)}
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" -DCMAKE_C_FLAGS_DEBUG="-g -O1" \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_C_COMPILER="$cc" "${launcher[@]}" \
  -DHEARTH_SANITIZE=ON -DHEARTH_FUZZ=ON -DHEARTH_CUDA=OFF -DHEARTH_MPI=OFF >/dev/null
