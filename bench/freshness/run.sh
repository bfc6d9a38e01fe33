#!/usr/bin/env bash
# Freshness benchmark: accepted → visible in GET /metrics, under steady ingest load.
# `vigil loadgen` posts RATE batches/s (20 events each) to the demo app for the whole run while
# bench/freshness/probe.py posts one app load at a time to a quiet app and polls /metrics (every
# 2 ms) until it is counted. Target: p99 <= 1 s.
#
# Env: RATE (1000 batches/s), PROBES (200), PROBE_INTERVAL (0.1 s), VIGIL (build/vigil).
set -euo pipefail
cd "$(dirname "$0")/../.."
VIGIL=${VIGIL:-build/vigil}
RATE=${RATE:-1000}
PROBES=${PROBES:-200}
INTERVAL=${PROBE_INTERVAL:-0.1}
source bench/lib.sh
bench_init fresh

PORT=$(free_port)
"$VIGIL" serve --data "$WORK/data" --listen "127.0.0.1:$PORT" --admin-token bench \
  > "$WORK/vigil.out" 2> "$WORK/vigil.err" &
pids+=($!)
for _ in $(seq 100); do grep -q "listening" "$WORK/vigil.out" 2>/dev/null && break; sleep 0.1; done
LOAD_KEY=$(grep "ingest key" "$WORK/vigil.out" | awk '{print $3}')
APP_JSON=$(curl -sf -X POST -H "Authorization: Bearer bench" -d '{"name":"probe"}' \
  "http://127.0.0.1:$PORT/v1/admin/apps")
field() { echo "$APP_JSON" | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

DURATION=$(python3 -c "print(int($PROBES * ($INTERVAL + 0.05)) + 30)")
"$VIGIL" loadgen --target "http://127.0.0.1:$PORT" --key "$LOAD_KEY" --rate "$RATE" \
  --duration "$DURATION" --concurrency 8 --devices 5000 > "$WORK/loadgen.out" 2> /dev/null &
LOADGEN=$!
pids+=($LOADGEN)
sleep 3  # the load reaches its steady rate
echo "bench/freshness: loadgen at $RATE batches/s ($((RATE * 20)) events/s) on another app;" \
  "$PROBES probes, one every ${INTERVAL}s"
result=$(python3 bench/freshness/probe.py "$PORT" "$(field id)" "$(field ingest_key)" \
  "$(field api_token)" "$PROBES" "$INTERVAL")
kill "$LOADGEN" 2>/dev/null || true
echo "bench/freshness: accepted -> visible in /metrics: $result (target p99 <= 1000 ms)"
curl -s "http://127.0.0.1:$PORT/metrics" | grep -E '^vigil_(speed_events_total|events_accepted_total)' \
  | sed 's/^/bench\/freshness: /'
