#!/usr/bin/env bash
# Builds each fuzz target with clang's libFuzzer + ASan/UBSan and runs it from its seed corpus,
# FUZZ_SECONDS (default 60) each, or FUZZ_RUNS inputs each with a fixed seed (what CI does: the
# same inputs every time, so a red CI is a reproducible finding, not luck). New crashes land in
# build-fuzz/ as crash-* files and fail the script. `make test` only replays the corpora
# (tests/fuzz/replay_main.cc); `make fuzz` runs this, and CI runs it briefly after `make test`.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/setup  # clang and libFuzzer's runtime are in its list
SECONDS_EACH=${FUZZ_SECONDS:-60}
RUNS=${FUZZ_RUNS:-}
OUT=build-fuzz
mkdir -p "$OUT/obj"
FLAGS=(-std=c++20 -O1 -g -march=native -fsanitize=fuzzer,address,undefined
       -fno-sanitize-recover=undefined -Isrc
       -DH2O_USE_LIBUV=0 -DSIMDJSON_THREADS_ENABLED=1)
LIBS=(-lsimdjson -ldeflate -lzstd -llz4 -lxxhash -lcrypto -lpthread)
COMMON=(src/common/*.cc src/log/*.cc src/ingest/batch_parser.cc src/ingest/decompressor.cc
        src/ingest/drop_rules.cc
        src/process/apple_crash_parser.cc src/process/apple_ips_parser.cc
        src/process/report_text.cc src/process/tombstone_parser.cc
        src/symbols/proguard_mapping.cc src/symbols/proguard_cache.cc src/symbols/retrace.cc
        src/process/java_trace.cc
        src/symbols/debug_id.cc src/symbols/symcache.cc src/symbols/symcache_builder.cc
        src/symbols/breakpad_reader.cc src/process/grouping.cc src/process/native_symbolicator.cc
        src/process/crash_processor.cc src/aggregate/*.cc src/archive/*.cc)
COMMON=($(printf '%s\n' "${COMMON[@]}" | grep -v '_test\.cc$'))

# The sources every target shares, compiled once (in parallel) instead of once per target.
# An object is rebuilt when its source or any header is newer.
echo "fuzz: compiling ${#COMMON[@]} shared sources"
NEWEST_HEADER=$(ls -t src/*/*.h | head -1)
printf '%s\n' "${COMMON[@]}" | xargs -P "$(nproc)" -I{} sh -c '
  out=$0; header=$1; src=$2; shift 2
  o="$out/obj/$(echo "$src" | tr / _).o"
  if [ "$o" -nt "$src" ] && [ "$o" -nt "$header" ]; then exit 0; fi
  clang++ "$@" -c "$src" -o "$o"' "$OUT" "$NEWEST_HEADER" {} "${FLAGS[@]}"
OBJS=()
for src in "${COMMON[@]}"; do OBJS+=("$OUT/obj/$(echo "$src" | tr / _).o"); done

# The object-file target also reads through LLVM 14 (not instrumented; a crash there still shows).
# LLVM 14's headers do not compile as C++20 with clang 14 and libstdc++ 12 (llvm::json::Value),
# so the one file that includes them is built by g++, uninstrumented, like LLVM itself.
LLVM=("$OUT/object_reader.o" src/symbols/symbol_file.cc
      -L/usr/lib/llvm-14/lib -lLLVM-14 -Wl,-rpath,/usr/lib/llvm-14/lib)
TARGETS=${FUZZ_TARGETS:-"batch_parser decompressor segment_reader segment_summary drop_rules apple_crash apple_ips
         tombstone proguard_mapping proguard_cache java_trace breakpad_sym symcache object_file
         crash_processor rollup_cell archive_part"}
# FUZZ_SKIP: targets left out (CI skips object_file: it fuzzes LLVM too, which crashes on
# malformed DWARF within seconds; the server survives that by converting in a child process,
# and each such input is kept in tests/fuzz/known_crashes, where a test replays it there).
for target in $TARGETS; do
  if [[ " ${FUZZ_SKIP:-} " == *" $target "* ]]; then continue; fi
  EXTRA=()
  echo "fuzz: building $target"
  if [ "$target" = object_file ]; then
    g++ -std=c++20 -O1 -g -Isrc -isystem /usr/lib/llvm-14/include -c \
      src/symbols/object_reader.cc -o "$OUT/object_reader.o"
    EXTRA=("${LLVM[@]}")
  fi
  clang++ "${FLAGS[@]}" "tests/fuzz/${target}_fuzz.cc" "${OBJS[@]}" "${EXTRA[@]}" "${LIBS[@]}" \
    -o "$OUT/$target"
  mkdir -p "$OUT/$target.corpus"
  cp -n tests/fuzz/corpus/$target/* "$OUT/$target.corpus/" 2> /dev/null || true
  if [ -n "$RUNS" ]; then
    echo "fuzz: $target, $RUNS inputs (seed 1)"
    LIMIT=(-runs="$RUNS" -seed=1)
  else
    echo "fuzz: $target for ${SECONDS_EACH}s"
    LIMIT=(-max_total_time="$SECONDS_EACH")
  fi
  (cd "$OUT" && "./$target" "${LIMIT[@]}" -timeout=25 -max_len=65536 -print_final_stats=0 \
    "$target.corpus" 2>&1 | grep -E "^(Done [0-9]+ runs|==[0-9]+==|SUMMARY|Test unit written)" || true)
  found=$(ls "$OUT"/crash-* "$OUT"/timeout-* "$OUT"/leak-* "$OUT"/oom-* 2> /dev/null || true)
  if [ -n "$found" ]; then
    echo "fuzz: failing inputs in $OUT (reproduce: $OUT/<target> FILE): $found"
    exit 1
  fi
done
echo "fuzz: no failures"
