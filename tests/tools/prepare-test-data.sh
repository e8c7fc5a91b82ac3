#!/usr/bin/env bash
# Generated test data that is not committed (called by scripts/test.sh with the tests' tmp dir).
#   tests/tools/prepare-test-data.sh build/tests/tmp
# Each step skips itself (with a message) when its tools or network are unavailable; the tests then skip.
set -uo pipefail
out_dir=${1:?usage: prepare-test-data.sh TESTS_TMP_DIR}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out_dir"
"$here/make-test-vocabs.sh" "$out_dir" || echo "prepare-test-data: tokenizer vocabs not built (their tests will skip)" >&2
exit 0
