#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (CTest; golden, asan and e2e labels included),
# then the ThreadSanitizer tests (scripts/tsan.sh) and the fuzz targets: their seed corpora replayed
# and 30 s of fuzzing each (scripts/fuzz.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
(cd build && ctest --output-on-failure -j "$(nproc)" --timeout 900)
scripts/tsan.sh
scripts/fuzz.sh --seconds 30 --jobs "$(nproc)"
