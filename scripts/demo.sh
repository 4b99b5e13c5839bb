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
rm -rf "$demo/pairs" && mkdir -p "$demo/pairs"
make_clip() {  # name, ffmpeg video filter, tone frequency
  ffmpeg -loglevel error -y -f lavfi -i "testsrc2=size=96x96:rate=24:duration=1.5" \
    -f lavfi -i "sine=frequency=$3:sample_rate=44100:duration=1.5" -vf "$2" \
    -c:v libx264 -pix_fmt yuv420p -c:a aac -ac 2 -shortest "$demo/pairs/$1.mp4"
}
frequencies=(220 330 440)
for i in 0 1 2; do
  f=${frequencies[$i]}
  make_clip "pair$i"_start "hue=h=$((i * 90))" "$f"
  make_clip "pair$i"_end "hue=h=$((i * 90)),negate" "$((f * 2))"
  echo "a moving test pattern with a steady tone" > "$demo/pairs/pair$i.txt"
done
(cd "$demo/pairs" && rm -f ../pairs.zip && zip -q ../pairs.zip ./*)

cat > "$demo/request.json" <<JSON
{
  "training_data_url": "file://$demo/pairs.zip",
  "trigger_phrase": "inverted",
  "rank": 8,
  "number_of_steps": 200,
  "learning_rate": 0.001,
  "number_of_frames": 17,
  "resolution": "low",
  "validation": [{"prompt": "inverted a moving test pattern with a steady tone",
                  "reference_video_url": "file://$demo/pairs/pair1_start.mp4"}],
  "validation_interval": 100,
  "validation_number_of_frames": 17,
  "validation_resolution": "low",
  "debug_dataset": true
}
JSON

# The demo trains below the request contract's sizes (the tiny model on a CPU): 64x64, 17 frames.
build/avtrain train "$demo/request.json" --out "$demo/job" --model tiny --text-encoder tiny --device cpu \
  --demo-size 64x64 --demo-frames 17 --demo-steps 200
echo "== outputs: $demo/job/outputs (result: $demo/job/result.json)"
