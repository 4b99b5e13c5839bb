#!/usr/bin/env bash
# Crash trials (issue 29): a tiny job (100 steps, validation every 25) killed with SIGKILL at a random
# moment and run again must finish with a LoRA byte-identical to an uninterrupted run with the same
# seed, each step once in its metrics and no temporary file left behind. Then the same through
# `avtrain serve`: the server is killed at a random moment and restarted on its data folder; the job's
# result must carry the same LoRA and its webhook must arrive once. Prints one line per trial and a
# summary; exits 1 when any trial fails. Needs build/avtrain (scripts/build.sh) and python3.
#
#   scripts/crash-trials.sh [--runs 20] [--serve-runs 5] [--steps 100] [--seed N]
set -euo pipefail
cd "$(dirname "$0")/.."

runs=20
serve_runs=5
steps=100
seed=$RANDOM
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --serve-runs) serve_runs="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    -h|--help) sed -n 2,10p "$0"; exit 0 ;;
    *) echo "crash-trials: unknown argument $1" >&2; exit 2 ;;
  esac
done
RANDOM=$seed
avtrain=$PWD/build/avtrain
[ -x "$avtrain" ] || { echo "crash-trials: build/avtrain is missing: run scripts/build.sh" >&2; exit 2; }
work=$PWD/out/crash-trials
rm -rf "$work"
mkdir -p "$work"
export AVTRAIN_CACHE_DIR=$work/cache AVTRAIN_THREADS=1 AVTRAIN_LOG_LEVEL=warn

"$avtrain" demo-dataset --out "$work/demo" --pairs 2 --size 32 --seconds 0.5 > /dev/null
python3 - "$work/demo/request.json" "$work/request.json" <<'PY'
import json, sys
request = json.load(open(sys.argv[1]))
request["validation_interval"] = 25
json.dump(request, open(sys.argv[2], "w"))
PY
train_command=("$avtrain" train "$work/request.json" --model tiny --text-encoder tiny --device cpu
  --demo-size 32x32 --demo-frames 9 --demo-steps "$steps")
train() {  # train OUT
  "${train_command[@]}" --out "$1"
}
stray() {  # the temporary files left in a folder
  find "$1" \( -name '*.tmp' -o -name '*.part' -o -name '*.writing.mp4' -o -name '*.part-*' -o -name '*.joining' \) | wc -l
}
metrics_ok() {  # each step 1..steps once in metrics.jsonl
  python3 - "$1" "$steps" <<'PY'
import json, sys
steps = [json.loads(line)["step"] for line in open(sys.argv[1]) if line.strip()]
sys.exit(0 if steps == list(range(1, int(sys.argv[2]) + 1)) else 1)
PY
}
stage_at() {  # where a killed job stood: the first stage its job.json has not finished (training: its step)
  python3 - "$1" <<'PY'
import json, os, sys
stages = ["downloading", "preprocessing", "encoding", "training", "validating", "uploading"]
try:
    finished = json.load(open(os.path.join(sys.argv[1], "job.json")))["finished"]
except (OSError, ValueError, KeyError):
    finished = []
stage = next((name for name in stages if name not in finished), "delivered")
if stage == "training":
    try:
        with open(os.path.join(sys.argv[1], "training", "metrics.jsonl")) as metrics:
            stage += " step %d" % sum(1 for line in metrics if line.strip())
    except OSError:
        pass
print(stage)
PY
}

start=$(date +%s.%N)
train "$work/reference" > /dev/null 2>"$work/reference.err"
duration=$(echo "$(date +%s.%N) - $start" | bc)
reference=$(sha256sum < "$work/reference/outputs/lora.safetensors" | cut -d' ' -f1)
echo "reference: ${duration%.*} s, LoRA sha256 ${reference:0:16}... (seed $seed)"

failures=0
report() {  # name moment ok detail
  printf '%-10s %-28s %-4s %s\n' "$1" "$2" "$3" "$4"
  [ "$3" = ok ] || failures=$((failures + 1))
}

for trial in $(seq 1 "$runs"); do
  job=$work/trial-$trial
  delay=$(echo "scale=3; $duration * $RANDOM / 32767" | bc)
  # the command itself in the background (a function would run in a subshell that the kill stops
  # while avtrain goes on)
  "${train_command[@]}" --out "$job" > /dev/null 2>"$job.killed.err" &
  pid=$!
  sleep "$delay"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  moment="$(stage_at "$job") at ${delay}s"
  if ! train "$job" > /dev/null 2>"$job.rerun.err"; then
    report "cli-$trial" "$moment" FAIL "rerun failed: $(tail -1 "$job.rerun.err")"
    continue
  fi
  lora=$(sha256sum < "$job/outputs/lora.safetensors" | cut -d' ' -f1)
  if [ "$lora" != "$reference" ]; then
    report "cli-$trial" "$moment" FAIL "LoRA differs"
  elif ! metrics_ok "$job/training/metrics.jsonl"; then
    report "cli-$trial" "$moment" FAIL "metrics do not hold each step once"
  elif [ "$(stray "$job")" -ne 0 ]; then
    report "cli-$trial" "$moment" FAIL "temporary files left: $(find "$job" -name '*.tmp' -o -name '*.part' | head -3 | tr '\n' ' ')"
  else
    report "cli-$trial" "$moment" ok ""
  fi
done

# Through the server: a webhook receiver counts deliveries per request id.
receiver=$work/receiver.py
cat > "$receiver" <<'PY'
import http.server, json, sys
counts = sys.argv[2]
class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with open(counts, "a") as out:
            out.write(body["request_id"] + "\n")
        self.send_response(200)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Hook).serve_forever()
PY
hook_port=$((20000 + RANDOM % 20000))
python3 "$receiver" "$hook_port" "$work/webhooks.txt" &
receiver_pid=$!
trap 'kill $receiver_pid 2>/dev/null || true' EXIT

serve() {  # serve DATA: starts the server in the background, prints its port
  "$avtrain" serve --listen 127.0.0.1:0 --data "$1" --model tiny --text-encoder tiny --device cpu \
    --allow-local-files "$work" --allow-private-network --demo-size 32x32 --demo-frames 9 --demo-steps "$steps" \
    > "$1.out" 2>>"$1.err" &
  server_pid=$!
  for _ in $(seq 1 600); do
    port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$1.out" 2>/dev/null | grep -o '[0-9]*$' || true)
    [ -n "$port" ] && return 0
    sleep 0.1
  done
  echo "crash-trials: the server did not start: $(tail -3 "$1.err")" >&2
  exit 1
}
for trial in $(seq 1 "$serve_runs"); do
  data=$work/serve-$trial
  mkdir -p "$data"
  serve "$data"
  id=$(curl -s -X POST "http://127.0.0.1:$port/fal-ai/x/av2av?fal_webhook=http://127.0.0.1:$hook_port/hook" \
    -H 'Content-Type: application/json' --data @"$work/request.json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["request_id"])')
  delay=$(echo "scale=3; $duration * $RANDOM / 32767" | bc)
  sleep "$delay"
  kill -9 "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  moment="$(stage_at "$data/jobs/$id") at ${delay}s"
  serve "$data"
  status=""
  for _ in $(seq 1 1200); do
    status=$(curl -s "http://127.0.0.1:$port/fal-ai/x/requests/$id/status" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("outcome") or "")')
    [ -n "$status" ] && break
    sleep 0.2
  done
  sleep 1  # the webhook follows the finish
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  deliveries=$(grep -c "^$id$" "$work/webhooks.txt" 2>/dev/null || true)
  lora=$(sha256sum < "$data/jobs/$id/outputs/lora.safetensors" 2>/dev/null | cut -d' ' -f1 || true)
  if [ "$status" != succeeded ]; then
    report "serve-$trial" "$moment" FAIL "outcome '$status'"
  elif [ "$lora" != "$reference" ]; then
    report "serve-$trial" "$moment" FAIL "LoRA differs"
  elif [ "$deliveries" != 1 ]; then
    report "serve-$trial" "$moment" FAIL "webhook delivered $deliveries times"
  elif [ "$(stray "$data/jobs/$id")" -ne 0 ]; then
    report "serve-$trial" "$moment" FAIL "temporary files left"
  else
    report "serve-$trial" "$moment" ok ""
  fi
done

echo "== $((runs + serve_runs - failures)) of $((runs + serve_runs)) trials ok (seed $seed)"
[ "$failures" -eq 0 ]
