#!/usr/bin/env bash
# Builds the GGUF parser fuzzer with clang (libFuzzer + ASan + UBSan) and runs it.
#   tests/fuzz/run.sh [SECONDS=60] [BUILD_DIR=build-fuzz] [extra libFuzzer flags...]
# Crashes are written to BUILD_DIR/artifacts/; reproduce one with: BUILD_DIR/tests/fuzz/gguf_fuzz FILE
set -euo pipefail
seconds=${1:-60}
build=${2:-build-fuzz}
shift $(( $# > 2 ? 2 : $# ))
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
cxx=${CXX_FUZZ:-$(command -v clang++-14 || command -v clang++)}
cc=${CC_FUZZ:-$(command -v clang-14 || command -v clang)}
jobs=${JOBS:-2}

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_C_COMPILER="$cc" \
  -DHEARTH_FUZZ=ON -DHEARTH_TESTS=OFF -DHEARTH_CUDA=OFF >/dev/null
cmake --build "$build" -j "$jobs" --target gguf_fuzz gguf_fuzz_seeds

seeds="$build/fuzz-seeds"
corpus="$build/fuzz-corpus"
mkdir -p "$seeds" "$corpus" "$build/artifacts"
"$build/tests/fuzz/gguf_fuzz_seeds" "$seeds"
fixtures="$root/../shared/fixtures"
# Small real files make good seeds too (the vocab file is ~700 KB, so it only seeds with -max_len raised).
[ -f "$fixtures/stories260K/stories260K.gguf" ] && head -c 65536 "$fixtures/stories260K/stories260K.gguf" > "$seeds/stories-head.gguf"

"$build/tests/fuzz/gguf_fuzz" "$corpus" "$seeds" -dict="$root/tests/fuzz/gguf.dict" -max_len=65536 \
  -max_total_time="$seconds" -artifact_prefix="$build/artifacts/" -print_final_stats=1 "$@"
