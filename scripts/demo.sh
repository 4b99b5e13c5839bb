#!/usr/bin/env bash
# Installs what is missing, builds, and runs the demo training job on the built-in tiny model (CPU):
# three synthetic clip pairs whose target is a visible and audible transformation of the reference
# (inverted colours, the tone an octave up), a LoRA trained for 200 steps, one validation sample.
# Outputs land in out/demo/job/outputs (result.json lists them).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh

demo=$PWD/out/demo
rm -rf "$demo"  # a finished job in the same folder would be returned, not trained again
# Three 96x96 pairs of 1.5 s made by the test-media generator, pairs.zip and request.json (200 steps,
# a validation sample every 100 steps, file:// URLs into $demo).
build/avtrain demo-dataset --out "$demo" --pairs 3 --size 96 --seconds 1.5

# The demo trains below the request contract's sizes (the tiny model on a CPU): 64x64, 17 frames.
build/avtrain train "$demo/request.json" --out "$demo/job" --model tiny --text-encoder tiny --device cpu \
  --demo-size 64x64 --demo-frames 17 --demo-steps 200
echo "== outputs: $demo/job/outputs (result: $demo/job/result.json)"
