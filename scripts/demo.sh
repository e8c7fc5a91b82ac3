#!/usr/bin/env bash
# Fresh machine → a real model writing a story: installs packages, builds, runs stories260K.
# Uses ../shared/fixtures when present, otherwise downloads the same small model from Hugging Face.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target hearth_cli
model=../shared/fixtures/stories260K/stories260K.gguf
# Without the fixtures (a user's machine), hearth downloads the same model from Hugging Face.
[ -f "$model" ] || model=hf:ggml-org/models/tinyllamas/stories260K.gguf
./build/hearth run -m "$model" -p "Once upon a time" -n 200 --temp 0
