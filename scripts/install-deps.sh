#!/usr/bin/env bash
# Installs the Debian 12 packages hearth builds and tests with (needs root or sudo).
set -euo pipefail
pkgs=(build-essential cmake pkg-config git curl ca-certificates
      libpcre2-dev nlohmann-json3-dev libcli11-dev libcpp-httplib-dev libssl-dev
      libgtest-dev libgmock-dev libbenchmark-dev clang-14 libclang-rt-14-dev python3
      python3-dev pybind11-dev  # the Python module (bindings/python)
      libopenmpi-dev openmpi-bin  # hearth run/bench --pipeline over MPI
      chromium)  # chromium: headless rendering test of the eval HTML report
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
