#!/usr/bin/env bash
# Symbolication benchmark: vigil vs addr2line vs llvm-symbolizer on the same addresses, one run.
#
# Builds vigil itself with -O2 -g (RelWithDebInfo, no sanitizers) as the large binary, picks
# ADDRESSES random addresses inside its functions (nm -S, fixed seed), then times:
#   vigil symbolicate   symcache build from the ELF's DWARF + every lookup + addr2line-style output
#   addr2line -f -i -C -a
#   llvm-symbolizer --output-style=GNU -f -i -a (demangling)
# and prints seconds, frames/s and the ratios, vigil's pure lookup rate on one core (--stats),
# the symcache size against the DWARF it came from, and how many output lines agree with
# llvm-symbolizer (address lines normalized).
#
# Env: ADDRESSES (1000000), BIN (default: build-debuginfo/vigil, built if missing).
set -euo pipefail
cd "$(dirname "$0")/../.."
ADDRESSES=${ADDRESSES:-1000000}
SYMBOLIZER=$(command -v llvm-symbolizer-14 || command -v llvm-symbolizer)
WORK=$(mktemp -d /tmp/vigil-bench-sym-XXXXXX)
trap 'rm -rf "$WORK"' EXIT

if [ -z "${BIN:-}" ]; then
  BIN=build-debuginfo/vigil
  echo "building vigil with -O2 -g into build-debuginfo/ (once)..."
  cmake -S . -B build-debuginfo -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVIGIL_TESTS=OFF > /dev/null
  cmake --build build-debuginfo -j "$(nproc)" --target vigil > /dev/null
fi
VIGIL=${VIGIL:-build/vigil}
[ -x "$VIGIL" ] || { echo "run make build first ($VIGIL missing)"; exit 1; }

python3 - "$BIN" "$ADDRESSES" > "$WORK/addrs" <<'PY'
import random, subprocess, sys
binary, count = sys.argv[1], int(sys.argv[2])
out = subprocess.run(["nm", "--defined-only", "-S", binary], check=True, capture_output=True,
                     text=True).stdout
functions = []
for line in out.splitlines():
    p = line.split()
    if len(p) == 4 and p[2] in "tTwW" and int(p[1], 16) > 0:
        functions.append((int(p[0], 16), int(p[1], 16)))
rng = random.Random(42)
w = sys.stdout.write
for _ in range(count):
    start, size = rng.choice(functions)
    w("0x%x\n" % (start + rng.randrange(size)))
PY
DWARF=$(size -A "$BIN" | awk '/^\.(z)?debug/ {s += $2} END {print s}')
echo "binary: $BIN, $(stat -c %s "$BIN") bytes, $DWARF bytes of DWARF; $ADDRESSES addresses"

TIMEFORMAT=%R
t() { { time "$@" > /dev/null 2>&1; } 2>&1; }
secs_vigil=$( { time "$VIGIL" symbolicate --stats --symbols "$BIN" < "$WORK/addrs" > "$WORK/vigil.out" 2> "$WORK/vigil.stats"; } 2>&1 )
secs_addr2line=$( { time addr2line -f -i -C -a -e "$BIN" < "$WORK/addrs" > "$WORK/addr2line.out"; } 2>&1 )
secs_llvm=$( { time "$SYMBOLIZER" --output-style=GNU -f -i -a --obj="$BIN" < "$WORK/addrs" > "$WORK/llvm.out"; } 2>&1 )
cat "$WORK/vigil.stats"
frames=$(sed -n 's/.* addresses, \([0-9]*\) frames in.*/\1/p' "$WORK/vigil.stats")
row() { printf "%-16s %8.2f s  %12.0f frames/s\n" "$1" "$2" "$(echo "$frames / $2" | bc -l)"; }
row vigil "$secs_vigil"
row addr2line "$secs_addr2line"
row llvm-symbolizer "$secs_llvm"
echo "vigil vs addr2line:       $(echo "scale=1; $secs_addr2line / $secs_vigil" | bc)x faster (symcache build included)"
echo "vigil vs llvm-symbolizer: $(echo "scale=1; $secs_llvm / $secs_vigil" | bc)x faster"
cache=$(sed -n 's/.*s to load or build, \([0-9]*\) bytes.*/\1/p' "$WORK/vigil.stats")
echo "symcache: $cache bytes = $(echo "scale=3; $cache / $DWARF" | bc) of the DWARF"
same=$(python3 - "$WORK/vigil.out" "$WORK/llvm.out" <<'PY'
import re, sys
a = open(sys.argv[1]).read().splitlines()
b = open(sys.argv[2]).read().splitlines()
norm = lambda s: re.sub(r"^0x0*([0-9a-f])", r"0x\1", s)
same = sum(1 for x, y in zip(a, b) if norm(x) == y)
print("%d of %d lines (%.3f%%)" % (same, max(len(a), len(b)), 100.0 * same / max(len(a), len(b))))
PY
)
echo "agreement with llvm-symbolizer (which demangles itself): $same"
