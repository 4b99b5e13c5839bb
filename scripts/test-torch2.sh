#!/usr/bin/env bash
# Builds the LibTorch-only layers (core, models, train, sample) and runs their tests on the CPU against a
# Debian LibTorch 2, inside a Debian chroot made with debootstrap under .deps (needs root). Here Debian's
# LibTorch is 1.13 and the GPU machines have 2.x: this is where the `TORCH_VERSION_MAJOR >= 2` paths (SDPA,
# at::rms_norm, the optimizer's state keys) first run and meet the golden data, before a device session.
# Usage: scripts/test-torch2.sh [trixie|sid] [ctest arguments...]
#   trixie: LibTorch 2.6; sid: Debian's newest (2.14 on 2026-11-26), which brackets the GPU machines' 2.11.
# The first run of a suite takes ~10 min to make the chroot and ~25 min to build on 2 cores; later runs
# rebuild only what changed. Media, dataset and service stay off, as on the GPU machines.
set -euo pipefail
cd "$(dirname "$0")/.."
suite=${1:-trixie}
shift || true
case "$suite" in
  trixie | sid) ;;
  *) echo "test-torch2.sh: suite '$suite' is not known; use trixie (LibTorch 2.6) or sid (the newest)" >&2; exit 2 ;;
esac
if [ "$(id -u)" != 0 ]; then
  echo "test-torch2.sh: debootstrap, chroot and mount need root; run it as root or with sudo" >&2
  exit 2
fi
root=$PWD/.deps/chroot-$suite
packages="libtorch-dev libopenblas0-openmp cmake ninja-build g++ nlohmann-json3-dev libspdlog-dev libfmt-dev
          libgtest-dev libgmock-dev"

if [ ! -x "$root/usr/bin/cmake" ]; then
  if [ ! -x "$root/usr/bin/apt-get" ]; then
    command -v debootstrap >/dev/null || apt-get install -y debootstrap
    debootstrap --variant=minbase "$suite" "$root" http://deb.debian.org/debian
  fi
  cp /etc/resolv.conf "$root/etc/"
  # A mirror may serve sid's index some days after its Valid-Until: accept it (the packages are signed).
  chroot "$root" apt-get -o Acquire::Check-Valid-Until=false update
  # shellcheck disable=SC2086
  chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $packages
fi

# The sources and the golden data (../shared) at /src inside, so that the tests find ../shared/golden.
mkdir -p "$root/src/avtrain" "$root/src/shared" "$root/proc"
mounted=()
cleanup() { for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount "${mounted[i]}" || true; done; }
trap cleanup EXIT
mount --bind "$PWD" "$root/src/avtrain" && mounted+=("$root/src/avtrain")
if [ -d ../shared ]; then mount --bind -o ro ../shared "$root/src/shared" && mounted+=("$root/src/shared"); fi
mount -t proc proc "$root/proc" && mounted+=("$root/proc")

# shellcheck disable=SC2016  # ${Version} is dpkg-query's field, not the shell's
chroot "$root" dpkg-query -W -f='LibTorch ${Version}\n' libtorch-dev
jobs=$(nproc)
chroot "$root" sh -c "cmake -S /src/avtrain -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DAVTRAIN_WITH_MEDIA=OFF -DAVTRAIN_WITH_SERVICE=OFF -DAVTRAIN_BUILD_BENCH=ON > /build-configure.log \
  && ninja -C /build -j$jobs -k 0"
# The ctest arguments as given (a -R pattern may hold '|').
# shellcheck disable=SC2016  # expanded by the sh inside the chroot
chroot "$root" sh -c 'cd /build && exec ctest -j"$0" --output-on-failure "$@"' "$jobs" "$@"
