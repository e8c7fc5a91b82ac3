#!/usr/bin/env bash
# Fresh machine → all tests: installs packages, builds, runs the test suite, then the request and GGUF parsers'
# tests again under AddressSanitizer + UndefinedBehaviorSanitizer and the fuzzers for a bounded time.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
[ -x tests/tools/prepare-test-data.sh ] && tests/tools/prepare-test-data.sh build/tests/tmp
ctest --test-dir build --output-on-failure -j"$jobs"
# Sanitizers (ASan + UBSan) on the parsers of untrusted input, GGUF files and HTTP requests: their test binaries
# (add a pattern here for new ones), then the libFuzzer targets for a bounded time, all from one clang build.
san_tests="gguf_test serve_errors_test serve_units_test serve_store_test json_mode_test download_policy_test"
for f in tests/serve_hardening*_test.cpp tests/serve_http_guard*_test.cpp tests/serve_request*_test.cpp; do
  [ -e "$f" ] && san_tests+=" $(basename "$f" .cpp)"
done
tests/fuzz/configure.sh build-asan
# shellcheck disable=SC2086
cmake --build build-asan -j"$jobs" --target $san_tests
for t in $san_tests; do
  echo "== $t (ASan + UBSan)"
  build-asan/tests/"$t" --gtest_brief=1
done
FUZZ_TARGETS=serve tests/fuzz/run.sh "${HEARTH_FUZZ_SECONDS:-90}" build-asan
FUZZ_TARGETS=gguf tests/fuzz/run.sh "${HEARTH_FUZZ_GGUF_SECONDS:-30}" build-asan
