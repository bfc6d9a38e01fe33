# Shared by the benchmark scripts (source it after `cd` to the repo root): a temp directory and
# the processes a run starts, cleaned up on exit, and a free local port.
#
#   bench_init NAME   WORK=/tmp/vigil-bench-NAME-XXXXXX; on exit, kills every PID in `pids`
#                     (then waits, so servers drain) and removes WORK unless KEEP=1.
#   free_port         prints a free TCP port on 127.0.0.1.
pids=()

bench_cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ "${KEEP:-0}" != 1 ]; then rm -rf "$WORK"; fi
}

bench_init() {
  WORK=$(mktemp -d "/tmp/vigil-bench-$1-XXXXXX")
  trap bench_cleanup EXIT
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
