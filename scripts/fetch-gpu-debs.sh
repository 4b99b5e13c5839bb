#!/usr/bin/env bash
# Downloads (here, where Debian's archive is reachable) the header-only packages the LibTorch layers
# need, as .deb files into .deps/debs, for GPU machines that have LibTorch but no Debian packages.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .deps/debs
cd .deps/debs
# The shared libraries come along only because the packages' CMake configs check that they exist.
packages=(nlohmann-json3-dev libspdlog-dev libfmt-dev libspdlog1.10 libfmt9 libxxhash-dev)
have_all=1
for package in "${packages[@]}"; do ls "${package}"_*.deb >/dev/null 2>&1 || have_all=0; done
if [ "$have_all" = 0 ]; then
  apt-get download "${packages[@]}"
fi
ls -1 *.deb
