#!/usr/bin/env bash
# Query benchmark: the dashboard's read queries against a server holding 30 days of one app
# (DAU daily users, batch-sealed), with wrk paced at RATE requests/s; prints p50/p99 latency.
# Target: p99 <= 5 ms at 1,000 requests/s.
#
# Queries, in turn (docs/api.md): app_loads, dau, crash_free_users and crashes of one version
# per day over 30 days; the top 10 crash groups by events and by users over 30 days; the top 10
# network endpoints; p95 network latency per day.
#
# Env: DAU (200000), DAYS (30), RATE (1000), CONNECTIONS (10), SECONDS_PER_RUN (20),
#      VIGIL (build/vigil).
set -euo pipefail
cd "$(dirname "$0")/../.."
VIGIL=${VIGIL:-build/vigil}
DAU=${DAU:-200000}
DAYS=${DAYS:-30}
RATE=${RATE:-1000}
CONNECTIONS=${CONNECTIONS:-10}
DURATION=${SECONDS_PER_RUN:-20}
GEN=build/vigil_bench_batch_gen
source bench/lib.sh
bench_init query

cmake --build build -j "$(nproc)" --target vigil_bench_batch_gen > /dev/null
PORT=$(free_port)
VIGIL_BATCH_INTERVAL_MINUTES=0 "$VIGIL" serve --data "$WORK/data" --listen "127.0.0.1:$PORT" \
  --admin-token bench > "$WORK/vigil.out" 2> "$WORK/vigil.err" &
pids+=($!)
for _ in $(seq 100); do grep -q "listening" "$WORK/vigil.out" 2>/dev/null && break; sleep 0.1; done
APP_JSON=$(curl -sf -X POST -H "Authorization: Bearer bench" -d '{"name":"dashboard"}' \
  "http://127.0.0.1:$PORT/v1/admin/apps")
APP=$(echo "$APP_JSON" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
TOKEN=$(echo "$APP_JSON" | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_token"])')

echo "bench/query: $DAYS days x $DAU daily users into the archive, then batch..."
"$GEN" --archive "$WORK/data/archive" --app "$APP" --days "$DAYS" --dau "$DAU" 2> "$WORK/gen.log"
tail -1 "$WORK/gen.log"
FROM=$(date -u -d "@$(($(date +%s) - DAYS * 86400))" +%F)
TO=$(date -u +%F)
curl -sf -X POST -H "Authorization: Bearer bench" -d "{\"from\":\"$FROM\"}" \
  "http://127.0.0.1:$PORT/v1/admin/batch/run"
echo

export BENCH_TOKEN=$TOKEN BENCH_APP=$APP BENCH_FROM=$FROM BENCH_TO=$TO BENCH_RATE=$RATE \
  BENCH_THREADS=2
# A short warm-up (caches, RocksDB blocks), then the measured run.
wrk -t2 -c"$CONNECTIONS" -d3s -s bench/query/dashboard.lua "http://127.0.0.1:$PORT" > /dev/null
out=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s bench/query/dashboard.lua \
  "http://127.0.0.1:$PORT")
rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
p90=$(echo "$out" | awk '$1 == "90%" {print $2}')
p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
non2xx=$(echo "$out" | awk '/Non-2xx/ {print $5}')
echo "bench/query: wrk -t2 -c$CONNECTIONS -d${DURATION}s paced to $RATE req/s, 8 dashboard queries"
printf "bench/query: %.0f req/s  p50 %s  p90 %s  p99 %s  non-2xx %s  (target p99 <= 5 ms)\n" \
  "$rps" "$p50" "$p90" "$p99" "${non2xx:-0}"
# Unpaced, for the ceiling.
out=$(BENCH_RATE=1000000000 wrk -t2 -c"$CONNECTIONS" -d5s --latency -s bench/query/dashboard.lua \
  "http://127.0.0.1:$PORT")
echo "bench/query: unpaced: $(echo "$out" | awk '/Requests\/sec/ {print $2}') req/s," \
  "p99 $(echo "$out" | awk '$1 == "99%" {print $2}')"
