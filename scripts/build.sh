#!/usr/bin/env bash
# Configures and builds avtrain in build/ (Release, Ninja, ccache when present). Extra arguments go
# to CMake (e.g. -DAVTRAIN_WITH_SERVICE=OFF).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" > build-configure.log || { cat build-configure.log; exit 1; }
cmake --build build -j "$(nproc)"
