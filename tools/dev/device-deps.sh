#!/usr/bin/env bash
# Builds .deps/: the Debian -dev packages hearth builds against, unpacked into a prefix, for machines
# where they cannot be installed (the lent GPU machine has no package access). Use there with
#   cmake -S . -B build -DCMAKE_PREFIX_PATH=$PWD/.deps/usr
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
(cd "$tmp" && apt-get download libpcre2-dev libpcre2-8-0 nlohmann-json3-dev libcli11-dev libgtest-dev libgmock-dev)
rm -rf .deps
for f in "$tmp"/*.deb; do dpkg -x "$f" .deps; done
rm -rf "$tmp"
echo ".deps ready ($(du -sh .deps | cut -f1))"
