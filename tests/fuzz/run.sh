#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan, tests/fuzz/configure.sh) and runs each for SECONDS:
#   gguf_fuzz   GgufFile::parse on arbitrary bytes (seeds written by gguf_fuzz_seeds, and stories260K's head);
#   serve_fuzz  request bodies for every endpoint of a real in-process `hearth serve` (seeds in serve_seeds/).
#   tests/fuzz/run.sh [SECONDS=60] [BUILD_DIR=build-asan] [extra libFuzzer flags...]
#   FUZZ_TARGETS="gguf serve" (default both) picks the targets.
# Crashes are written to BUILD_DIR/artifacts/; reproduce one with: BUILD_DIR/tests/fuzz/<target> FILE
set -euo pipefail
seconds=${1:-60}
build=${2:-build-asan}
shift $(( $# > 2 ? 2 : $# ))
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
jobs=${JOBS:-$(nproc)}
targets=${FUZZ_TARGETS:-gguf serve}
fixtures="$root/../shared/fixtures"

tests/fuzz/configure.sh "$build"
build_targets=()
for t in $targets; do
  case $t in
    gguf) build_targets+=(gguf_fuzz gguf_fuzz_seeds) ;;
    serve) build_targets+=(serve_fuzz) ;;
    *) echo "unknown fuzz target '$t' (gguf, serve)" >&2; exit 2 ;;
  esac
done
cmake --build "$build" -j "$jobs" --target "${build_targets[@]}"
mkdir -p "$build/artifacts"

for t in $targets; do
  corpus="$build/fuzz-corpus-$t"
  mkdir -p "$corpus"
  echo "== ${t}_fuzz for ${seconds}s"
  if [ "$t" = gguf ]; then
    seeds="$build/fuzz-seeds-gguf"
    mkdir -p "$seeds"
    "$build/tests/fuzz/gguf_fuzz_seeds" "$seeds"
    # Small real files make good seeds too (the vocab file is ~700 KB, so it only seeds with -max_len raised).
    [ -f "$fixtures/stories260K/stories260K.gguf" ] && head -c 65536 "$fixtures/stories260K/stories260K.gguf" > "$seeds/stories-head.gguf"
    "$build/tests/fuzz/gguf_fuzz" "$corpus" "$seeds" -dict="$root/tests/fuzz/gguf.dict" -max_len=65536 \
      -max_total_time="$seconds" -artifact_prefix="$build/artifacts/" -print_final_stats=1 "$@"
  else
    # The server's threads allocate and free across inputs: leak checks per input would only see that.
    "$build/tests/fuzz/serve_fuzz" "$corpus" "$root/tests/fuzz/serve_seeds" -dict="$root/tests/fuzz/serve.dict" \
      -max_len=16384 -timeout=60 -rss_limit_mb=4096 -detect_leaks=0 -max_total_time="$seconds" \
      -artifact_prefix="$build/artifacts/serve-" -print_final_stats=1 "$@"
  fi
done
