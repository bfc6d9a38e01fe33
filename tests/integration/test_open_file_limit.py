"""Running out of file descriptors on a real server (started with RLIMIT_NOFILE 64 soft and hard).

What must hold: vigil serve warns at start that the limit is low and how to raise it; once every
descriptor is taken, the event loops pause accepting instead of spinning on the listening socket
(before: 100 % of a CPU, and the open connections starved), the connections already open are
served, the waiting ones are accepted as soon as descriptors are free, and the pauses are
counted in /metrics and logged (rate-limited) with the fix. A soft limit below the hard one is
raised to it (common/open_file_limit.h).
"""
import os
import resource
import select
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from vigil_harness import Server  # noqa: E402

LIMIT = 64
CONNECTIONS = 80


def limit_open_files():
    resource.setrlimit(resource.RLIMIT_NOFILE, (LIMIT, LIMIT))


def soft_limit_below_hard():
    resource.setrlimit(resource.RLIMIT_NOFILE, (LIMIT, 4 * LIMIT))


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def replies(socks, timeout):
    """{index in socks: the first bytes each answered} within `timeout` seconds."""
    got = {}
    deadline = time.time() + timeout
    while len(got) < len(socks) and time.time() < deadline:
        pending = [s for i, s in enumerate(socks) if i not in got]
        readable, _, _ = select.select(pending, [], [], max(0.0, deadline - time.time()))
        for s in readable:
            got[socks.index(s)] = s.recv(64)
    return got


class OpenFileLimitTest(unittest.TestCase):
    def test_out_of_descriptors_pauses_accepting_serves_open_connections_and_recovers(self):
        server = Server(preexec_fn=limit_open_files).start()
        self.addCleanup(server.cleanup)
        conns = []
        self.addCleanup(lambda: [c.close() for c in conns])
        for _ in range(CONNECTIONS):  # connect() succeeds from the backlog even when not accepted
            conns.append(socket.create_connection(("127.0.0.1", server.port), timeout=5))
        time.sleep(0.5)
        before = cpu_seconds(server.proc.pid)
        time.sleep(1.0)
        busy = cpu_seconds(server.proc.pid) - before
        self.assertLess(busy, 0.5, "the server spins while it cannot accept")

        # Each connection asks for /healthz. The accepted ones answer; the others wait in a
        # listening socket's backlog (two loops, two sockets: which ones wait depends on the
        # kernel's spread and on the descriptors the server holds itself).
        for c in conns:
            c.sendall(b"GET /healthz HTTP/1.1\r\nHost: vigil\r\n\r\n")
        answered = replies(conns, 2.0)
        self.assertGreater(len(answered), 0)
        self.assertLess(len(answered), CONNECTIONS, "every connection was accepted")
        for i in answered:
            self.assertTrue(answered[i].startswith(b"HTTP/1.1 200"), answered[i])
        # Descriptors come free: every waiting connection is accepted and answered.
        waiting = [c for i, c in enumerate(conns) if i not in answered]
        for i in answered:
            conns[i].close()
        late = replies(waiting, 15.0)
        self.assertEqual(len(late), len(waiting))
        for reply in late.values():
            self.assertTrue(reply.startswith(b"HTTP/1.1 200"), reply)

        for c in conns:
            c.close()
        conns.clear()
        self.assertGreater(server.metric("vigil_http_accept_pauses_total") or 0, 0)
        for text in ("vigil: warning: at most 64 open files",
                     "cannot accept connections: Too many open files; raise the open-file limit"):
            self.assertTrue(server.wait_output(text), (text, list(server.output)))

    def test_a_soft_limit_below_the_hard_one_is_raised(self):
        server = Server(preexec_fn=soft_limit_below_hard).start()
        self.addCleanup(server.cleanup)
        with open("/proc/%d/limits" % server.proc.pid) as f:
            row = [line for line in f if line.startswith("Max open files")][0].split()
        self.assertEqual((row[3], row[4]), (str(4 * LIMIT), str(4 * LIMIT)), row)
        text = "at most %d open files" % (4 * LIMIT)
        self.assertTrue(server.wait_output(text), (text, list(server.output)))


if __name__ == "__main__":
    unittest.main()
