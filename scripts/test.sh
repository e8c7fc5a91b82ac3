#!/usr/bin/env bash
# Fresh machine → all tests: installs packages, builds, runs the test suite, then the GGUF reader tests
# again under AddressSanitizer + UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
[ -x tests/tools/prepare-test-data.sh ] && tests/tools/prepare-test-data.sh build/tests/tmp
ctest --test-dir build --output-on-failure -j"$jobs"
# Sanitizers on the parsers of untrusted input (GGUF files).
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DHEARTH_SANITIZE=ON -DHEARTH_CUDA=OFF >/dev/null
cmake --build build-asan -j"$jobs" --target gguf_test
ctest --test-dir build-asan --output-on-failure -R '^Gguf'
