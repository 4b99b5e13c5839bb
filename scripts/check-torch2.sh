#!/usr/bin/env bash
# Compiles (syntax only) the sources with LibTorch-version branches against LibTorch 2 headers, here,
# where Debian's LibTorch is 1.13: the `TORCH_VERSION_MAJOR >= 2` paths otherwise first meet a compiler
# on a GPU machine. The headers come from Debian trixie's libtorch-dev (.deb unpacked under .deps, never
# installed). Usage: [TORCH2_VERSION=2.14.1+dfsg-1] scripts/check-torch2.sh [files...]
# (default: trixie's 2.6, every file naming TORCH_VERSION; sid's newer version brackets the GPU's 2.11).
set -euo pipefail
cd "$(dirname "$0")/.."
version=${TORCH2_VERSION:-2.6.0+dfsg-7}
root=.deps/torch2/$version
if [ ! -f "$root/usr/include/torch/csrc/api/include/torch/version.h" ]; then
  mkdir -p "$root"
  deb=$(mktemp --suffix=.deb)
  curl -fsSL -o "$deb" "http://deb.debian.org/debian/pool/main/p/pytorch/libtorch-dev_${version}_amd64.deb"
  dpkg -x "$deb" "$root"
  rm -f "$deb"
fi
include=$root/usr/include
if [ $# -gt 0 ]; then files=("$@"); else mapfile -t files < <(grep -rl TORCH_VERSION src bench tests | sort); fi
status=0
for file in "${files[@]}"; do
  if g++ -std=c++20 -fsyntax-only -I"$include" -I"$include/torch/csrc/api/include" -Isrc -Itests "$file"; then
    echo "ok      $file"
  else
    echo "FAILED  $file"
    status=1
  fi
done
exit $status
