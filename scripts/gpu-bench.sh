#!/usr/bin/env bash
# One prepared device check for the transformer's speed (issue 5): builds the benchmarks with the GPU
# machine's CUDA LibTorch (scripts/gpu-build.sh; run scripts/fetch-gpu-debs.sh here first and carry
# .deps/debs), then runs, most important first so that a call cut short still brings back the figures that
# matter: full 48-layer training steps (the issue's size) per attention backend, one profiled 4-layer step,
# the 48-layer step without kept attention (memory against time), the block's ops per attention backend, the
# optimizer step and 8-layer steps. Everything it prints also goes to $OUT/gpu-bench.txt (or
# out/gpu-bench.txt without $OUT), the profile's Chrome trace to trace-4-layers.json.gz beside it.
# Usage: scripts/gpu-bench.sh [quick]   (quick: the ops and the 8- and 4-layer steps only, ~3 min with the
# build; without it: everything, ~4 min with the build: 126 s to build and 122 s to run on an H100, 2026-11-27)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
out_dir=${OUT:-out}
mkdir -p "$out_dir"
log=$out_dir/gpu-bench.txt
exec > >(tee "$log") 2>&1
stamp() { echo "== $(date -u +%H:%M:%S) $*"; }
# A hung or runaway run must not take the rest of the check with it.
bench() { timeout 180 "$@" || echo "(exit $?)"; }

stamp build
start=$(date +%s)
python3 -c 'import torch; print("PyTorch", torch.__version__, "CUDA", torch.version.cuda, "cuDNN", torch.backends.cudnn.version())' \
  >"$out_dir/versions.txt" 2>&1 &
versions_pid=$!
scripts/gpu-build.sh bench_transformer_step bench_transformer_ops bench_optimizer_step >"$out_dir/gpu-build.log" 2>&1 \
  || { tail -40 "$out_dir/gpu-build.log"; exit 1; }
echo "built in $(( $(date +%s) - start )) s"
wait "$versions_pid"  # not a bare wait: that also waits for the tee above
cat "$out_dir/versions.txt"
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader || true
step=./build-cuda/bench/bench_transformer_step

steps_48() {  # arguments: the flags of each run, one run per argument
  for args in "$@"; do
    stamp "48 layers (the issue's size): $args"
    # shellcheck disable=SC2086  # the arguments split as written
    bench "$step" --steps 3 --warmup 1 $args
  done
}

profile_4() {
  stamp "4 layers: one step under the profiler (GPU time per kernel; the trace is kept gzipped)"
  bench "$step" --layers 4 --steps 1 --warmup 1 --profile "$out_dir/trace-4-layers.json" | sed -n '/^median/,$p'
  gzip -f "$out_dir/trace-4-layers.json" || true
}

ops() {
  stamp "the block's ops per attention backend"
  bench ./build-cuda/bench/bench_transformer_ops --attention auto,flash,efficient,cudnn --reps 5
}

small_steps() {
  stamp "optimizer step (2,304 adapter tensors)"
  bench ./build-cuda/bench/bench_optimizer_step
  stamp "8 layers: attention backend x kept attention (all blocks, none)"
  for backend in auto cudnn; do
    for keep in -1 0; do
      echo "-- --attention $backend --keep-attention $keep"
      bench "$step" --layers 8 --steps 3 --warmup 1 --attention "$backend" --keep-attention "$keep" | tail -2
    done
  done
}

case "${1:-all}" in
  quick) ops && small_steps && profile_4 ;;
  *)
    steps_48 "--attention auto" "--attention cudnn"
    profile_4
    steps_48 "--attention auto --keep-attention 0"
    ops
    steps_48 "--attention cudnn --keep-attention 0"
    small_steps
    ;;
esac
stamp finished
