#!/usr/bin/env bash
# One prepared device check for the transformer's speed (issue 5): builds the benchmarks with the GPU
# machine's CUDA LibTorch (scripts/gpu-build.sh; run scripts/fetch-gpu-debs.sh here first and carry
# .deps/debs), then times the block's ops per attention backend and full training steps, and profiles one
# 4-layer step. Everything it prints also goes to $OUT/gpu-bench.txt (or out/gpu-bench.txt without $OUT), the
# profile's Chrome trace to trace-4-layers.json.gz beside it.
# Usage: scripts/gpu-bench.sh [quick|48]   (quick: ops and 8 layers only; 48: the 48-layer runs only, for a
# second call on the warm machine, whose build is kept; neither: everything, ~10 min)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
out_dir=${OUT:-out}
mkdir -p "$out_dir"
log=$out_dir/gpu-bench.txt
exec > >(tee "$log") 2>&1
stamp() { echo "== $(date -u +%H:%M:%S) $*"; }

stamp build
start=$(date +%s)
scripts/gpu-build.sh bench_transformer_step bench_transformer_ops bench_optimizer_step >"$out_dir/gpu-build.log" 2>&1 \
  || { tail -40 "$out_dir/gpu-build.log"; exit 1; }
echo "built in $(( $(date +%s) - start )) s"
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader || true

ops_and_8_layers() {
  stamp ops
  ./build-cuda/bench/bench_transformer_ops --attention auto,flash,efficient,cudnn --reps 5
  stamp "optimizer step (2,304 adapter tensors)"
  ./build-cuda/bench/bench_optimizer_step
  stamp "8 layers: attention backend x kept attention (all blocks, none)"
  for backend in auto cudnn; do
    for keep in -1 0; do
      echo "-- --attention $backend --keep-attention $keep"
      ./build-cuda/bench/bench_transformer_step --layers 8 --steps 3 --warmup 1 --attention "$backend" \
        --keep-attention "$keep" | tail -2
    done
  done
  stamp "4 layers: one step under the profiler (GPU time per kernel; the trace is kept gzipped)"
  ./build-cuda/bench/bench_transformer_step --layers 4 --steps 1 --warmup 1 --profile "$out_dir/trace-4-layers.json" \
    | sed -n '/^median/,$p'
  gzip -f "$out_dir/trace-4-layers.json" || true
}

layers_48() {
  stamp "48 layers (the issue's size)"
  for args in "--attention auto" "--attention cudnn" "--attention auto --keep-attention 0"; do
    echo "-- $args"
    # shellcheck disable=SC2086  # the arguments split as written
    ./build-cuda/bench/bench_transformer_step --steps 3 --warmup 1 $args
  done
}

case "${1:-all}" in
  quick) ops_and_8_layers ;;
  48) layers_48 ;;
  *) ops_and_8_layers && layers_48 ;;
esac
stamp finished
