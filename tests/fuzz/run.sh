#!/usr/bin/env bash
# Builds each fuzz target with clang's libFuzzer + ASan/UBSan and runs it for FUZZ_SECONDS
# (default 60) from its seed corpus. New crashes land in build-fuzz/<target>/ as crash-* files.
# `make test` only replays the corpora (tests/fuzz/replay_main.cc); run this when a parser changes.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v clang++ > /dev/null || { apt-get install -y -q clang libclang-rt-14-dev > /dev/null; }
SECONDS_EACH=${FUZZ_SECONDS:-60}
OUT=build-fuzz
mkdir -p "$OUT"
FLAGS=(-std=c++20 -O1 -g -march=native -fsanitize=fuzzer,address,undefined -Isrc
       -DH2O_USE_LIBUV=0 -DSIMDJSON_THREADS_ENABLED=1)
LIBS=(-lsimdjson -ldeflate -lzstd -lxxhash -lcrypto -lpthread)
COMMON=(src/common/*.cc src/log/*.cc src/ingest/batch_parser.cc src/ingest/decompressor.cc
        src/process/apple_crash_parser.cc src/process/apple_ips_parser.cc
        src/process/report_text.cc src/process/tombstone_parser.cc
        src/symbols/proguard_mapping.cc src/symbols/proguard_cache.cc src/symbols/retrace.cc
        src/process/java_trace.cc
        src/symbols/debug_id.cc src/symbols/symcache.cc src/symbols/symcache_builder.cc
        src/symbols/breakpad_reader.cc)
COMMON=($(printf '%s\n' "${COMMON[@]}" | grep -v '_test\.cc$'))
# The object-file target also reads through LLVM 14 (not instrumented; a crash there still shows).
# LLVM 14's headers do not compile as C++20 with clang 14 and libstdc++ 12 (llvm::json::Value),
# so the one file that includes them is built by g++, uninstrumented, like LLVM itself.
LLVM=("$OUT/object_reader.o" src/symbols/symbol_file.cc
      -L/usr/lib/llvm-14/lib -lLLVM-14 -Wl,-rpath,/usr/lib/llvm-14/lib)
TARGETS=${FUZZ_TARGETS:-"batch_parser decompressor segment_reader apple_crash apple_ips tombstone
         proguard_mapping proguard_cache java_trace breakpad_sym symcache object_file"}
for target in $TARGETS; do
  echo "fuzz: building $target"
  EXTRA=()
  if [ "$target" = object_file ]; then
    g++ -std=c++20 -O1 -g -Isrc -isystem /usr/lib/llvm-14/include -c \
      src/symbols/object_reader.cc -o "$OUT/object_reader.o"
    EXTRA=("${LLVM[@]}")
  fi
  clang++ "${FLAGS[@]}" "tests/fuzz/${target}_fuzz.cc" "${COMMON[@]}" "${EXTRA[@]}" "${LIBS[@]}" \
    -o "$OUT/$target"
  mkdir -p "$OUT/$target.corpus"
  cp -n tests/fuzz/corpus/$target/* "$OUT/$target.corpus/" 2> /dev/null || true
  echo "fuzz: running $target for ${SECONDS_EACH}s"
  (cd "$OUT" && "./$target" -max_total_time="$SECONDS_EACH" -timeout=25 -max_len=65536 "$target.corpus")
done
