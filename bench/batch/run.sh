#!/usr/bin/env bash
# Batch benchmark: a full 30-day `batch run` of one app with 1M daily users (~100M events: app
# loads, network calls, crashes, handled exceptions), against ClickHouse 18.16 computing the
# equivalent GROUP BY over the same events, in one run on this machine.
#
# Data: bench/batch/gen_archive.cc writes the events straight into archive part files (one per
# app and hour, as compaction leaves a settled day) and streams the same rows as TSV into
# ClickHouse (MergeTree, ORDER BY (app, day)). Neither side's load is timed.
#
# Timed, best of ROUNDS, caches warm:
#   vigil       POST /v1/admin/batch/run over the 30 days: reads the id hash, ts, type, version, os,
#               user columns and the derived subject/flags/bytes/latency columns (the archive
#               computed endpoint templates and crash groups when it wrote the parts), drops
#               repeated ids, aggregates every metric (app loads, users HLL, crashes and crash
#               groups, network requests with latency sketches) per hour and day for all
#               version/os combinations, and writes the cells to RocksDB with a synced write per
#               day. Round 1 writes every cell; later rounds compute the same cells, find their
#               digest stored and write none (unchanged_days): both are reported.
#   clickhouse  SELECT app, version, day, count(), countIf(type = …) ×4, uniqHLL12(user)
#               FROM events GROUP BY app, version, day   (FORMAT Null)
# The ratio is clickhouse / vigil: above 1.0, vigil is faster. ClickHouse does less work (no
# dedup, no endpoints or latency, one grouping); the comparison is the issue's "equivalent
# GROUP BY".
#
# Env: DAU (1000000), DAYS (30), ROUNDS (3), VIGIL (build/vigil), KEEP=1 keeps the temp dir.
set -euo pipefail
cd "$(dirname "$0")/../.."
VIGIL=${VIGIL:-build/vigil}
DAU=${DAU:-1000000}
DAYS=${DAYS:-30}
ROUNDS=${ROUNDS:-3}
GEN=build/vigil_bench_batch_gen
source bench/lib.sh
bench_init batch
now() { date +%s.%N; }

cmake --build build -j "$(nproc)" --target vigil_bench_batch_gen > /dev/null

# --- ClickHouse, its own config in the temp dir, in the foreground ---
CH_HTTP=$(free_port)
CH_TCP=$(free_port)
mkdir -p "$WORK/ch/data" "$WORK/ch/tmp" "$WORK/ch/user_files" "$WORK/ch/log"
cat > "$WORK/ch/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>$WORK/ch/log/server.log</log>
    <errorlog>$WORK/ch/log/error.log</errorlog></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>$CH_HTTP</http_port>
  <tcp_port>$CH_TCP</tcp_port>
  <path>$WORK/ch/data/</path>
  <tmp_path>$WORK/ch/tmp/</tmp_path>
  <user_files_path>$WORK/ch/user_files/</user_files_path>
  <users_config>$WORK/ch/users.xml</users_config>
  <mark_cache_size>5368709120</mark_cache_size>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
</yandex>
XML
cat > "$WORK/ch/users.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <profiles><default><max_threads>$(nproc)</max_threads></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks>
    <profile>default</profile><quota>default</quota></default></users>
  <quotas><default></default></quotas>
</yandex>
XML
clickhouse-server --config-file="$WORK/ch/config.xml" > "$WORK/ch/log/stdout.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$CH_HTTP/ping" > /dev/null 2>&1 && break
  sleep 0.2
done
ch() { curl -sf "http://127.0.0.1:$CH_HTTP/" --data-binary "$1"; }
ch "CREATE TABLE events (app String, day Date, ts UInt64, type UInt8, version String,
    os String, user String) ENGINE = MergeTree() PARTITION BY toYYYYMM(day) ORDER BY (app, day)"

# --- the same events into vigil's archive and ClickHouse ---
echo "bench/batch: generating $DAYS days x $DAU daily users..."
t0=$(now)
"$GEN" --archive "$WORK/data/archive" --days "$DAYS" --dau "$DAU" --tsv 2> "$WORK/gen.log" |
  clickhouse-client --port "$CH_TCP" --query "INSERT INTO events FORMAT TabSeparated"
tail -1 "$WORK/gen.log"
ch "OPTIMIZE TABLE events FINAL" || true
rows=$(ch "SELECT count() FROM events")
echo "bench/batch: loaded in $(echo "$(now) - $t0" | bc) s: $rows rows in ClickHouse," \
  "$(du -sh "$WORK/data/archive" | cut -f1) of archive parts"

# --- vigil: the server over that archive, batch on demand only ---
PORT=$(free_port)
VIGIL_BATCH_INTERVAL_MINUTES=0 "$VIGIL" serve --data "$WORK/data" --listen "127.0.0.1:$PORT" \
  --admin-token bench > "$WORK/vigil.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$PORT/healthz" > /dev/null 2>&1 && break
  sleep 0.1
done
FROM=$(date -u -d "@$(( $(date +%s) - DAYS * 86400 ))" +%F)
QUERY="SELECT app, version, day, count(), countIf(type = 1), countIf(type = 2),
  countIf(type = 3), countIf(type = 4), uniqHLL12(user) FROM events
  GROUP BY app, version, day FORMAT Null"
best_v=""
best_c=""
for r in $(seq "$ROUNDS"); do
  t0=$(now)
  out=$(curl -sf -X POST -H "Authorization: Bearer bench" \
    -d "{\"from\":\"$FROM\"}" "http://127.0.0.1:$PORT/v1/admin/batch/run")
  v=$(echo "$(now) - $t0" | bc)
  t0=$(now)
  ch "$QUERY" > /dev/null
  c=$(echo "$(now) - $t0" | bc)
  echo "bench/batch: round $r  vigil ${v} s ($out)  clickhouse ${c} s"
  if [ "$r" = 1 ]; then first_v=$v; fi
  if [ -z "$best_v" ] || (($(echo "$v < $best_v" | bc))); then best_v=$v; fi
  if [ -z "$best_c" ] || (($(echo "$c < $best_c" | bc))); then best_c=$c; fi
done
events=$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["events"])')
printf "bench/batch: %s events, %s days\n" "$events" "$DAYS"
printf "bench/batch: vigil batch run   %.2f s  (%.1f M events/s)\n" "$best_v" \
  "$(echo "$events / $best_v / 1000000" | bc -l)"
printf "bench/batch: vigil first run   %.2f s  (writes every cell; ratio clickhouse/vigil %.2f)\n" \
  "$first_v" "$(echo "$best_c / $first_v" | bc -l)"
printf "bench/batch: clickhouse GROUP BY %.2f s\n" "$best_c"
printf "bench/batch: ratio clickhouse/vigil %.2f (target >= 1.0; vigil target <= 60 s)\n" \
  "$(echo "$best_c / $best_v" | bc -l)"
