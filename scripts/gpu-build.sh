#!/usr/bin/env bash
# On a GPU machine with a CUDA PyTorch (LibTorch inside), CMake, ninja and a compiler, but none of our
# Debian packages: unpacks the .deb files of scripts/fetch-gpu-debs.sh into .deps/prefix (dpkg -x,
# never into /), then builds the LibTorch-only layers and the benchmarks in build-cuda.
# Usage: scripts/gpu-build.sh [targets...]   (default: every benchmark)
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=$PWD/.deps/prefix
mkdir -p "$prefix"
for deb in .deps/debs/*.deb; do
  if command -v dpkg >/dev/null; then
    dpkg -x "$deb" "$prefix"
  else  # a .deb is an ar archive holding data.tar.*
    work=$(mktemp -d)
    (cd "$work" && ar x "$OLDPWD/$deb" && tar -xf data.tar.* -C "$prefix")
    rm -rf "$work"
  fi
done
torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
cmake -S . -B build-cuda -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$torch_prefix;$prefix/usr;$prefix/usr/lib/x86_64-linux-gnu/cmake;$prefix/usr/share/cmake" \
  -DAVTRAIN_DEPS_PREFIX="$prefix" -DAVTRAIN_HEADER_ONLY_LOGGING=ON \
  -DAVTRAIN_WITH_MEDIA=OFF -DAVTRAIN_WITH_SERVICE=OFF -DAVTRAIN_BUILD_TESTS=OFF
if [ $# -gt 0 ]; then
  cmake --build build-cuda -j "$(nproc)" --target "$@"
else
  cmake --build build-cuda -j "$(nproc)"
fi
