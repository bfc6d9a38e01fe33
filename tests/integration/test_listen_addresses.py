"""Where `vigil serve` listens (docs/configuration.md, `listen`): IPv6 as well as IPv4, and a
clear error for an address it cannot use. The real binary, over real sockets.
"""
import gzip
import http.client
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from vigil_harness import ADMIN_TOKEN, VIGIL, batch, session  # noqa: E402


def can_bind(family, address):
    try:
        with socket.socket(family) as s:
            s.bind((address, 0))
        return True
    except OSError:
        return False


def have_ipv6_loopback():
    return can_bind(socket.AF_INET6, "::1")


class ListenAddressTest(unittest.TestCase):
    def setUp(self):
        self.data = tempfile.mkdtemp(prefix="vigil-listen-")
        self.addCleanup(shutil.rmtree, self.data, True)
        self.env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")

    def serve(self, listen, data=None):
        return subprocess.Popen(
            [VIGIL, "serve", "--data", data or self.data, "--listen", listen, "--admin-token",
             ADMIN_TOKEN, "--threads", "2"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env, text=True)

    def refused(self, listen, data=None):
        """The exit code and stderr of a server that must not start."""
        proc = self.serve(listen, data)
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            self.fail("vigil serve --listen %s started" % listen)
        return proc.returncode, err

    @unittest.skipUnless(have_ipv6_loopback(), "this machine has no IPv6 loopback")
    def test_it_serves_over_ipv6(self):
        proc = self.serve("[::1]:0")
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        self.assertTrue(select.select([proc.stdout], [], [], 60)[0], "no banner in 60 s")
        line = proc.stdout.readline()
        m = re.search(r"listening on http://\[::1\]:(\d+) ", line)
        self.assertIsNotNone(m, line + proc.stderr.read() if proc.poll() is not None else line)
        port = int(m.group(1))

        def call(method, path, body=None, headers=None):
            # http.client, not urllib: an http_proxy in the environment must not come between.
            conn = http.client.HTTPConnection("::1", port, timeout=30)
            try:
                conn.request(method, path, body=body, headers=headers or {})
                r = conn.getresponse()
                return r.status, json.loads(r.read() or b"null")
            finally:
                conn.close()

        self.assertEqual(call("GET", "/healthz")[0], 200)
        status, app = call("POST", "/v1/admin/apps", json.dumps({"name": "v6"}).encode(),
                           {"Authorization": "Bearer " + ADMIN_TOKEN})
        self.assertEqual(status, 201, app)
        body = gzip.compress(json.dumps(batch("v6-b", [session("v6-e")])).encode())
        status, answer = call("POST", "/v1/events", body,
                              {"X-Vigil-Key": app["ingest_key"], "Content-Encoding": "gzip"})
        self.assertEqual((status, answer["accepted"]), (202, 1), answer)
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=60), 0)
        proc.stdout.close()
        proc.stderr.close()
        dump = subprocess.run([VIGIL, "log", "dump", "--data", self.data, "--app", app["id"]],
                              capture_output=True, text=True, env=self.env, timeout=60)
        self.assertEqual([json.loads(line)["id"] for line in dump.stdout.splitlines()],
                         ["v6-e"], dump.stderr)

    def test_addresses_it_cannot_use_are_named(self):
        code, err = self.refused("example.com:8080")
        self.assertEqual(code, 2)
        self.assertIn("listen host must be an IP address of this machine (127.0.0.1, 0.0.0.0 "
                      "for every interface, or [::] for every interface over IPv6 and IPv4), not "
                      "'example.com'", err)
        code, err = self.refused("::1:8080")
        self.assertEqual(code, 2)
        self.assertIn("an IPv6 listen address goes in brackets: [::1]:PORT", err)
        # A port another program holds (without SO_REUSEPORT, so vigil cannot share it).
        with socket.create_server(("127.0.0.1", 0)) as taken:
            port = taken.getsockname()[1]
            code, err = self.refused("127.0.0.1:%d" % port)
        self.assertEqual(code, 1)
        self.assertIn("cannot listen on 127.0.0.1:%d: Address already in use (another server "
                      "uses that port: pick another with --listen)" % port, err)
        # An address no interface of this machine has (TEST-NET-1, RFC 5737); unless the
        # system lets programs bind any address (net.ipv4.ip_nonlocal_bind).
        if can_bind(socket.AF_INET, "192.0.2.1"):
            self.skipTest("this machine binds addresses it does not have (ip_nonlocal_bind)")
        code, err = self.refused("192.0.2.1:0")
        self.assertEqual(code, 1)
        self.assertIn("cannot listen on 192.0.2.1:0: Cannot assign requested address (no network "
                      "interface of this machine has that address: use one it has, or 0.0.0.0 / "
                      "[::] for all)", err)

    def test_a_second_server_on_the_same_port_is_refused(self):
        # vigil's loops share their port through SO_REUSEPORT, which any process of the same
        # user may join: a second vigil (another data directory) used to take half of the
        # first one's connections, silently.
        first = self.serve("127.0.0.1:0")
        self.addCleanup(lambda: first.poll() is None and first.kill())
        self.assertTrue(select.select([first.stdout], [], [], 60)[0], "no banner in 60 s")
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+) ", first.stdout.readline())
        self.assertIsNotNone(m)
        port = int(m.group(1))
        other = tempfile.mkdtemp(prefix="vigil-listen-other-")
        self.addCleanup(shutil.rmtree, other, True)
        code, err = self.refused("127.0.0.1:%d" % port, data=other)
        self.assertEqual(code, 1)
        self.assertIn("cannot listen on 127.0.0.1:%d: Address already in use (another server "
                      "uses that port: pick another with --listen)" % port, err)
        # Its API listener likewise, named by its own flag.
        proc = subprocess.Popen(
            [VIGIL, "serve", "--data", other, "--listen", "127.0.0.1:0", "--api-listen",
             "127.0.0.1:%d" % port, "--admin-token", ADMIN_TOKEN, "--threads", "2"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env, text=True)
        _, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("cannot listen on 127.0.0.1:%d: Address already in use (another server "
                      "uses that port: pick another with --api-listen)" % port, err)
        # The first one still answers every connection.
        for _ in range(8):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", "/healthz")
            self.assertEqual(conn.getresponse().status, 200)
            conn.close()
        first.send_signal(signal.SIGTERM)
        self.assertEqual(first.wait(timeout=60), 0)
        first.stdout.close()
        first.stderr.close()


if __name__ == "__main__":
    unittest.main()
