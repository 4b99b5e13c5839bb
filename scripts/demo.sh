#!/usr/bin/env bash
# Installs what is missing, builds, and runs the main job. Until the training pipeline lands, the
# main job shows what exists: inspecting a checkpoint in the LTX-2.3 layout and validating a request.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
golden=${AVTRAIN_GOLDEN_DIR:-../shared/golden}
echo "== avtrain inspect $golden/transformer_av_tiny.safetensors"
build/avtrain inspect "$golden/transformer_av_tiny.safetensors"
echo "== avtrain validate docs/examples/request.json"
build/avtrain validate docs/examples/request.json
