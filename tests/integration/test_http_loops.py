"""HTTP loop pinning (docs/configuration.md, `pin_http_loops`), read from the kernel, and the
loops' lag probe (vigil_http_loop_lag_seconds).

With one loop per CPU the process may run on, each `vigil-http` thread is pinned to a CPU of its
own and the startup line says "one per CPU"; with another number of loops, or pinning off, the
loops may run on every CPU.
"""
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from vigil_harness import Server  # noqa: E402

CPUS = sorted(os.sched_getaffinity(0))


def http_thread_cpus(pid, loops):
    """The CPUs each of the `loops` vigil-http threads may run on, as sorted lists, one per thread
    (waiting for the threads to have named themselves)."""
    deadline = time.time() + 10
    while True:
        out = []
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                if f.read().strip() != "vigil-http":
                    continue
            out.append(sorted(os.sched_getaffinity(int(tid))))
        if len(out) >= loops or time.time() > deadline:
            return sorted(out)
        time.sleep(0.02)


class HttpLoopPinningTest(unittest.TestCase):
    def start(self, threads, env=None):
        server = Server(extra_args=["--threads", str(threads)], env=env)
        # The harness passes --threads 2 itself; the later flag wins.
        server.start()
        self.addCleanup(server.cleanup)
        return server

    def test_one_loop_per_cpu_is_pinned_one_to_each(self):
        server = self.start(len(CPUS))
        self.assertIn("(%d event loops, one per CPU)" % len(CPUS), server.banner)
        self.assertEqual(http_thread_cpus(server.proc.pid, len(CPUS)), [[c] for c in CPUS])
        # It still answers.
        self.assertEqual(server.request("GET", "/healthz")[0], 200)

    def test_other_loop_counts_are_not_pinned(self):
        server = self.start(len(CPUS) + 1)
        self.assertNotIn("one per CPU", server.banner)
        self.assertEqual(http_thread_cpus(server.proc.pid, len(CPUS) + 1), [CPUS] * (len(CPUS) + 1))

    def test_pinning_can_be_turned_off(self):
        server = self.start(len(CPUS), env={"VIGIL_PIN_HTTP_LOOPS": "0"})
        self.assertNotIn("one per CPU", server.banner)
        self.assertEqual(http_thread_cpus(server.proc.pid, len(CPUS)), [CPUS] * len(CPUS))

    def test_a_bad_value_is_refused_with_the_fix(self):
        server = Server(env={"VIGIL_PIN_HTTP_LOOPS": "2"})
        self.addCleanup(server.cleanup)
        with self.assertRaises(RuntimeError) as ctx:
            server.start()
        self.assertIn("pin_http_loops must be 0 or 1", str(ctx.exception))


def loop_lag(server):
    """vigil_http_loop_lag_seconds as {le: cumulative count}, plus "count"."""
    out = {}
    for line in server.request("GET", "/metrics")[2].decode().splitlines():
        if line.startswith("vigil_http_loop_lag_seconds_bucket{le="):
            out[line.split('"')[1]] = int(line.split()[-1])
        elif line.startswith("vigil_http_loop_lag_seconds_count "):
            out["count"] = int(line.split()[-1])
    return out


class LoopLagProbeTest(unittest.TestCase):
    def test_a_stopped_process_shows_as_late_probes_on_every_loop(self):
        loops = 3
        server = Server(extra_args=["--threads", str(loops)])
        server.start()
        self.addCleanup(server.cleanup)
        # Every loop's probe is due every 100 ms.
        before = loop_lag(server)
        time.sleep(1.0)
        idle = loop_lag(server)
        self.assertGreaterEqual(idle["count"] - before["count"], loops * 5)
        # The kernel runs none of the loops for 0.6 s: each loop's next probe fires about 0.5 s
        # late, whatever the loop was doing (the probe's clock is the monotonic one, not h2o's).
        os.kill(server.proc.pid, signal.SIGSTOP)
        time.sleep(0.6)
        os.kill(server.proc.pid, signal.SIGCONT)
        deadline = time.time() + 5
        while True:
            after = loop_lag(server)
            late = (after["count"] - after["0.25"]) - (idle["count"] - idle["0.25"])
            if late >= loops or time.time() > deadline:
                break
            time.sleep(0.05)
        # Each loop's probe was late once for the stop (more only if the machine stalled too).
        self.assertGreaterEqual(late, loops)
        # None was over 2.5 s late.
        self.assertEqual(after["+Inf"] - after["2.5"], idle["+Inf"] - idle["2.5"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
