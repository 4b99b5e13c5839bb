#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz: clang, AddressSanitizer, UBSan) in build-fuzz/ and runs
# each: first over its committed seed corpus (tests/fuzz/corpus/<target>, a replay of seconds), then
# fuzzing for --seconds (default 30, what CI runs; issue 29 asks 1800 here). New inputs go to
# build-fuzz/corpus/<target> (not committed); a crash leaves its input in build-fuzz/findings/<target>.
# Prints a table of executions and findings per target; exits 1 when any target found something.
#
#   scripts/fuzz.sh                          every target, 30 s each
#   scripts/fuzz.sh --seconds 1800 --jobs 2  every target, 30 minutes each, two at a time
#   scripts/fuzz.sh request_json_fuzz        one target
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=30
jobs=1
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    -h|--help) sed -n 2,11p "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done

if [ ! -f build-fuzz/build.ninja ]; then
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAVTRAIN_FUZZ=ON \
    > build-fuzz-configure.log || { cat build-fuzz-configure.log; exit 1; }
fi
cmake --build build-fuzz -j "$(nproc)"

if [ ${#targets[@]} -eq 0 ]; then
  for source in tests/fuzz/*_fuzz.cpp; do targets+=("$(basename "$source" .cpp)"); done
fi

run_target() {
  local target="$1"
  local seeds="tests/fuzz/corpus/$target" work="build-fuzz/corpus/$target" findings="build-fuzz/findings/$target"
  local log="build-fuzz/logs/$target.log"
  mkdir -p "$seeds" "$work" "$findings" build-fuzz/logs
  rm -f "$findings"/*
  local status=0
  {
    echo "== replay of $seeds"
    "build-fuzz/$target" -runs=0 -rss_limit_mb=4096 -artifact_prefix="$findings/" "$seeds" || status=$?
    if [ "$status" -eq 0 ]; then
      echo "== fuzzing for $seconds s"
      "build-fuzz/$target" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$findings/" "$work" "$seeds" || status=$?
    fi
  } > "$log" 2>&1
  local execs
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -1 | awk '{print $2}')
  local found
  found=$(find "$findings" -type f | wc -l)
  printf '%-28s %8s s %12s execs %8s corpus %3s findings  (exit %s)\n' "$target" "$seconds" "${execs:-0}" \
    "$(find "$work" -type f | wc -l)" "$found" "$status" > "build-fuzz/logs/$target.row"
  return 0
}

export -f run_target
export seconds
printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'run_target "$@"' _ {}

echo "target                       seconds        executions      corpus   findings"
failed=0
for target in "${targets[@]}"; do
  cat "build-fuzz/logs/$target.row"
  if grep -q '(exit [^0]' "build-fuzz/logs/$target.row" || [ -n "$(find "build-fuzz/findings/$target" -type f)" ]; then
    failed=1
    echo "  $target: see build-fuzz/logs/$target.log" >&2
    grep -m3 -E 'ERROR: |SUMMARY:|uncaught|terminate' "build-fuzz/logs/$target.log" | sed 's/^/    /' >&2 || true
  fi
done
exit "$failed"
