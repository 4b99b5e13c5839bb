#!/usr/bin/env bash
# Builds the ThreadSanitizer tests (tests/tsan: the store, change notices, HTTP API, uploads, webhooks,
# keys and folder locks; no LibTorch) in build-tsan/ and runs them; any data race fails the run.
# Extra arguments go to the test binary (e.g. --gtest_filter=QueueApiConcurrency.*).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build-tsan/build.ninja ]; then
  cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAVTRAIN_TSAN=ON > build-tsan-configure.log ||
    { cat build-tsan-configure.log; exit 1; }
fi
cmake --build build-tsan -j "$(nproc)"
# halt_on_error: the first race fails the run with its report; OMP and curl threads stay out of it.
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan/suppressions.txt ${TSAN_OPTIONS:-}" build-tsan/avtrain_tsan_tests "$@"
