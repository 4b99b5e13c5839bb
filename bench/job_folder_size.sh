#!/usr/bin/env bash
# A finished job's folder before and after its working files go (issue 25.2): a job at the request's
# default size (resolution medium, 1:1: 768x768, 89 frames) on the built-in tiny model, CPU, 2 training
# steps (--demo-steps; sizes as requested), three synthetic 4-second pairs. Prints the folder's parts at
# the end of training (what a first-wave job kept for good) and what the delivered job keeps.
# The tiny model's checkpoints are small; a 22B job adds its LoRA checkpoints (rank 32: ~0.4 GB each)
# to "before" only. Needs build/avtrain.
#
#   bench/job_folder_size.sh [--pairs 3] [--seconds 4]
set -euo pipefail
cd "$(dirname "$0")/.."
pairs=3
seconds=4
while [ $# -gt 0 ]; do
  case "$1" in
    --pairs) pairs="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    *) echo "job_folder_size: unknown argument $1" >&2; exit 2 ;;
  esac
done
avtrain=$PWD/build/avtrain
work=$PWD/out/job-folder-size
rm -rf "$work"
mkdir -p "$work"
export AVTRAIN_CACHE_DIR=$work/cache AVTRAIN_LOG_LEVEL=info
"$avtrain" demo-dataset --out "$work/demo" --pairs "$pairs" --size 768 --seconds "$seconds" > /dev/null
echo "{\"training_data_url\": \"$work/demo/pairs.zip\", \"number_of_steps\": 100}" > "$work/request.json"

# The folder's parts, sampled while the job runs: the largest seen is what the job held at its peak.
job=$work/job
"$avtrain" train "$work/request.json" --out "$job" --model tiny --text-encoder tiny --device cpu \
  --demo-steps 2 > "$work/result.json" 2> "$work/train.err" &
pid=$!
declare -A peak
while kill -0 "$pid" 2>/dev/null; do
  for part in "$job"/*/; do
    [ -d "$part" ] || continue
    name=$(basename "$part")
    bytes=$(du -sb "$part" 2>/dev/null | cut -f1 || echo 0)
    [ "${bytes:-0}" -gt "${peak[$name]:-0}" ] && peak[$name]=$bytes
  done
  sleep 0.5
done
wait "$pid" || { tail -5 "$work/train.err"; exit 1; }

mib() { echo "scale=1; $1 / 1048576" | bc; }
printf '| part | peak while running (MiB) | after delivery (MiB) |\n|---|---|---|\n'
total_peak=0
for name in $(printf '%s\n' "${!peak[@]}" | sort); do
  after=$(du -sb "$job/$name" 2>/dev/null | cut -f1 || echo 0)
  printf '| %s | %s | %s |\n' "$name" "$(mib "${peak[$name]}")" "$(mib "${after:-0}")"
  total_peak=$((total_peak + peak[$name]))
done
printf '| **whole folder** | %s | %s |\n' "$(mib "$total_peak")" "$(mib "$(du -sb "$job" | cut -f1)")"
grep -o "removed the job's working files.*" "$work/train.err" || true
