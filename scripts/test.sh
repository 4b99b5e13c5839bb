#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (CTest; golden, asan and e2e labels included).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
cd build
ctest --output-on-failure -j "$(nproc)" --timeout 900
