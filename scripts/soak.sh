#!/usr/bin/env bash
# Soak (issue 29): `avtrain serve` with 2 workers runs tiny jobs back to back for --minutes (default 30)
# while a client keeps two jobs queued. Every 10 s the server's RSS and open file descriptors are
# sampled; at the end the first and last 5 minutes are compared (they must stay flat) and every job
# submitted must have completed. Prints the samples' summary (and every sample in out/soak/samples.tsv);
# exits 1 when a job was lost or failed.
# Needs build/avtrain (scripts/build.sh) and python3.
#
#   scripts/soak.sh [--minutes 30] [--steps 5]
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=30
steps=5
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    -h|--help) sed -n 2,9p "$0"; exit 0 ;;
    *) echo "soak: unknown argument $1" >&2; exit 2 ;;
  esac
done
avtrain=$PWD/build/avtrain
[ -x "$avtrain" ] || { echo "soak: build/avtrain is missing: run scripts/build.sh" >&2; exit 2; }
work=$PWD/out/soak
rm -rf "$work"
mkdir -p "$work"
export AVTRAIN_CACHE_DIR=$work/cache AVTRAIN_THREADS=1 AVTRAIN_LOG_LEVEL=warn

"$avtrain" demo-dataset --out "$work/demo" --pairs 2 --size 32 --seconds 0.5 > /dev/null
"$avtrain" serve --listen 127.0.0.1:0 --data "$work/data" --model tiny --text-encoder tiny --device cpu \
  --workers 2 --allow-local-files "$work" --demo-size 32x32 --demo-frames 9 --demo-steps "$steps" \
  > "$work/serve.out" 2> "$work/serve.err" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
port=""
for _ in $(seq 1 600); do
  port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$work/serve.out" 2>/dev/null | grep -o '[0-9]*$' || true)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "soak: the server did not start" >&2; exit 1; }

SOAK_SAMPLES=$work/samples.tsv python3 - "$port" "$server" "$minutes" "$work/demo/request.json" <<'PY'
import json, os, sys, time, urllib.request

port, pid, minutes, request_file = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
base = f"http://127.0.0.1:{port}/fal-ai/x"
body = open(request_file, "rb").read()

def call(method, path, data=None):
    request = urllib.request.Request(base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)

def sample():
    rss = 0
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) // 1024
    return rss, len(os.listdir(f"/proc/{pid}/fd"))

submitted, finished, outcomes, samples = [], set(), {}, []
start = time.time()
last_sample = 0
while time.time() - start < minutes * 60:
    pending = [i for i in submitted if i not in finished]
    for request_id in pending:
        status = call("GET", f"/requests/{request_id}/status")
        if status["status"] == "COMPLETED":
            finished.add(request_id)
            outcomes[status["outcome"]] = outcomes.get(status["outcome"], 0) + 1
    while len([i for i in submitted if i not in finished]) < 4:
        submitted.append(call("POST", "/av2av", body)["request_id"])
    if time.time() - last_sample >= 10:
        last_sample = time.time()
        samples.append((time.time() - start, *sample()))
    time.sleep(0.5)
deadline = time.time() + 300
while len(finished) < len(submitted) and time.time() < deadline:
    for request_id in [i for i in submitted if i not in finished]:
        status = call("GET", f"/requests/{request_id}/status")
        if status["status"] == "COMPLETED":
            finished.add(request_id)
            outcomes[status["outcome"]] = outcomes.get(status["outcome"], 0) + 1
    time.sleep(0.5)

def window(rows):
    rss = [r[1] for r in rows]
    fds = [r[2] for r in rows]
    return f"RSS {min(rss)}-{max(rss)} MiB (mean {sum(rss) / len(rss):.0f}), fds {min(fds)}-{max(fds)}"

first = [s for s in samples if s[0] < 300]
last = [s for s in samples if s[0] >= samples[-1][0] - 300]
print(f"soak: {minutes:g} min, {len(submitted)} jobs submitted, {len(finished)} completed, outcomes {outcomes}")
print(f"  first 5 minutes: {window(first)}")
print(f"  last 5 minutes:  {window(last)}")
# The whole course, per 5 minutes: growth that levels off (allocator pools, caches filling) and growth
# that goes on (a leak) look alike in the first and last windows alone.
print("  | minutes | RSS min-max (mean), MiB | fds |\n  |---|---|---|")
for begin in range(0, int(samples[-1][0]) + 1, 300):
    rows = [s for s in samples if begin <= s[0] < begin + 300]
    if rows:
        rss, fds = [r[1] for r in rows], [r[2] for r in rows]
        print(f"  | {begin // 60}-{begin // 60 + 5} | {min(rss)}-{max(rss)} ({sum(rss) / len(rss):.0f}) | "
              f"{min(fds)}-{max(fds)} |")
with open(os.environ["SOAK_SAMPLES"], "w") as out:
    out.write("seconds\trss_mib\tfds\n")
    out.writelines(f"{t:.0f}\t{rss}\t{fds}\n" for t, rss, fds in samples)
sys.exit(0 if len(finished) == len(submitted) and outcomes.get("succeeded", 0) == len(submitted) else 1)
PY
