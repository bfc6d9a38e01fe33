"""Starts a real `vigil serve` on an ephemeral 127.0.0.1 port and talks to it over real HTTP.

Used by every integration test. The server is started by PID and stopped by PID; its data
directory is a fresh temp dir unless one is given (to restart on the same data).
"""
import gzip
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest
from collections import deque

VIGIL = os.environ.get("VIGIL_BIN", os.path.join(os.path.dirname(__file__), "../../build/vigil"))
ADMIN_TOKEN = "test-admin-token"


def mount_small_filesystem(test, size_bytes):
    """A fresh ext4 filesystem of `size_bytes` (no blocks reserved for root, so that root fills
    it as anyone would), loop-mounted on a temp dir for `test` (a unittest.TestCase) and
    unmounted and removed by its cleanups; returns the mount point. Skips the test, saying why,
    without root or loop devices. Register cleanups that use it (a server on it) afterwards:
    cleanups run last-in first-out."""
    if os.geteuid() != 0:
        test.skipTest("mounting a small test filesystem needs root")
    tmp = tempfile.mkdtemp(prefix="vigil-small-fs-")
    test.addCleanup(shutil.rmtree, tmp, True)
    mnt = os.path.join(tmp, "mnt")
    os.mkdir(mnt)
    image = os.path.join(tmp, "fs.img")
    with open(image, "wb") as f:
        f.truncate(size_bytes)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", image], check=True, capture_output=True)
    mounted = subprocess.run(["mount", "-o", "loop", image, mnt], capture_output=True, text=True)
    if mounted.returncode != 0:
        test.skipTest("cannot loop-mount a test filesystem: " + mounted.stderr.strip())
    test.addCleanup(subprocess.run, ["umount", mnt], check=True)
    return mnt


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


class Server:
    def __init__(self, data_dir=None, extra_args=(), env=None, preexec_fn=None):
        self.own_dir = data_dir is None
        self.preexec_fn = preexec_fn  # run in the child before exec (e.g. resource limits)
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="vigil-it-")
        self.extra_args = list(extra_args)
        self.env = dict(os.environ, **(env or {}))
        self.env.setdefault("ASAN_OPTIONS", "detect_leaks=0")
        # Tests share a loaded CI machine with other tests: the stages of the server under test
        # must not wait behind them (background_nice exists for ingest bursts in production).
        self.env.setdefault("VIGIL_BACKGROUND_NICE", "0")
        # Likewise, a test's load must not make the stages step aside for up to 30 s while the
        # test waits for them (common/ingest_burst.h; its own tests cover it).
        self.env.setdefault("VIGIL_BURST_YIELD_SECONDS", "0")
        self.proc = None
        self.port = None

    def start(self):
        self.proc = subprocess.Popen(
            [VIGIL, "serve", "--data", self.data_dir, "--listen", "127.0.0.1:0",
             "--admin-token", ADMIN_TOKEN, "--threads", "2"] + self.extra_args,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env, text=True,
            preexec_fn=self.preexec_fn)
        deadline = time.time() + 60
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("vigil serve exited: " + self.proc.stderr.read())
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                self.banner = line
                self._drain()
                return self
        self.stop()  # the caller gets no server to stop: this one must not outlive the test
        raise RuntimeError("vigil serve did not start in time")

    def _drain(self):
        """Reads the running server's stdout and stderr from here on, keeping their last lines
        (self.output): a pipe nobody reads fills up, and the server's next write to it would
        block."""
        self.output = deque(maxlen=200)
        self._drains = []
        for f in (self.proc.stdout, self.proc.stderr):
            t = threading.Thread(target=lambda f=f: [self.output.append(line) for line in f],
                                 daemon=True)
            t.start()
            self._drains.append(t)

    def _closed(self):
        """After the server exited: its pipes read to the end, and closed."""
        for t in getattr(self, "_drains", []):
            t.join(timeout=10)
        self._drains = []
        for f in (self.proc.stdout, self.proc.stderr):
            f.close()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self._closed()

    def kill9(self):
        self.proc.kill()  # SIGKILL
        self.proc.wait()
        self._closed()

    def cleanup(self):
        self.stop()
        if self.own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def request(self, method, path, body=None, headers=None, timeout=30):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, dict(resp.getheaders()), data
        finally:
            conn.close()

    def headers_only(self, head, port=None):
        """Sends `head` (request line and headers, no body) on a new connection and reads the
        answer to its end: for a server that answers from the headers alone and closes (413).
        Returns (status, body) with the body parsed as JSON."""
        with socket.create_connection(("127.0.0.1", port or self.port), timeout=10) as s:
            s.sendall(head.encode())
            answer = b""
            while True:
                data = s.recv(65536)
                if not data:
                    break
                answer += data
        head_part, _, body = answer.partition(b"\r\n\r\n")
        return int(head_part.split()[1]), json.loads(body)

    def json_request(self, method, path, body=None, headers=None):
        status, hdrs, data = self.request(method, path, body, headers)
        return status, hdrs, json.loads(data) if data else None

    def admin(self, method, path, body=None):
        h = {"Authorization": "Bearer " + ADMIN_TOKEN}
        if body is not None:
            body = json.dumps(body)
            h["Content-Type"] = "application/json"
        return self.json_request(method, path, body, h)

    def create_app(self, name="test-app"):
        status, _, app = self.admin("POST", "/v1/admin/apps", {"name": name})
        assert status == 201, (status, app)
        return app

    def post_events(self, key, payload, encoding="gzip", raw=None):
        body = raw if raw is not None else json.dumps(payload).encode()
        headers = {"X-Vigil-Key": key, "Content-Type": "application/json"}
        if encoding == "gzip" and raw is None:
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        elif encoding:
            headers["Content-Encoding"] = encoding
        return self.json_request("POST", "/v1/events", body, headers)

    def log_dump(self, app=None, log="raw"):
        args = [VIGIL, "log", "dump", "--data", self.data_dir, "--log", log]
        if app:
            args += ["--app", app]
        out = subprocess.run(args, capture_output=True, text=True, env=self.env, check=True)
        return [json.loads(line) for line in out.stdout.splitlines() if line]

    def metric(self, series):
        """The value of one /metrics series, by its exact name with labels (None if absent)."""
        status, _, body = self.request("GET", "/metrics")
        assert status == 200, status
        for line in body.decode().splitlines():
            if line.startswith(series + " "):
                return float(line[len(series) + 1:])
        return None

    def wait_output(self, text, timeout=10):
        """Whether the server wrote `text` (stdout or stderr) within `timeout` seconds: its
        output is read by threads, so a line may arrive a little after the server wrote it."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if text in "".join(self.output):
                return True
            time.sleep(0.05)
        return False

    def log_stats(self, log="raw"):
        out = subprocess.run([VIGIL, "log", "stats", "--data", self.data_dir, "--log", log],
                             capture_output=True, text=True, env=self.env, check=True)
        return json.loads(out.stdout)


class KeepAliveClient:
    """One load-test client's keep-alive connection to a server that may go away (kill -9,
    SIGTERM): post_batch() returns (status, body bytes), or None when no answer came, in which
    case the connection is dropped, reopened by the next post, and the caller should pause."""

    def __init__(self, port, key):
        self.port = port
        self.key = key
        self.conn = None

    def post_batch(self, payload):
        body = gzip.compress(json.dumps(payload).encode())
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            self.conn.request("POST", "/v1/events", body,
                              {"X-Vigil-Key": self.key, "Content-Encoding": "gzip"})
            resp = self.conn.getresponse()
            return resp.status, resp.read()
        except (OSError, http.client.HTTPException):
            self.conn = None
            return None

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class ServerTestCase(unittest.TestCase):
    """A test class whose tests share one server (cls.server), started with `server_env` before
    set_up_server() runs. tearDownClass does not run when setUpClass fails, so a failure in
    set_up_server stops the server itself: it must not outlive the test."""
    server_env = None

    @classmethod
    def setUpClass(cls):
        cls.server = Server(env=cls.server_env).start()
        try:
            cls.set_up_server()
        except BaseException:
            cls.server.cleanup()
            raise

    @classmethod
    def set_up_server(cls):
        pass

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()


NOW_MS = int(time.time() * 1000)


def wait_away_from_midnight():
    """A test that reasons in UTC days (today partial, the days before complete) must not
    straddle midnight, nor start before today has a few minutes of past: close to midnight,
    wait until the new day has begun and is two minutes old."""
    day, minute = 86400 * 1000, 60 * 1000
    to_midnight = day - int(time.time() * 1000) % day
    if to_midnight < 4 * minute:
        time.sleep(to_midnight / 1000 + 120)
    elif int(time.time() * 1000) % day < 2 * minute:
        time.sleep(2 * minute / 1000 - (int(time.time() * 1000) % day) / 1000)


def batch(batch_id, events, sent_at=None, **context):
    b = {"batch_id": batch_id, "sent_at": sent_at if sent_at is not None else int(time.time() * 1000),
         "device": {"id": "dev-1", "os": "android", "os_version": "14"},
         "app": {"version": "2.3.1", "build": "231"}, "user": {"id": "user-1"},
         "events": events}
    b.update(context)
    return b


def session(event_id, ts=None):
    return {"id": event_id, "type": "session_start", "ts": ts or int(time.time() * 1000)}
