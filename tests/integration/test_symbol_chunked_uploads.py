"""Symbol files in chunks (/v1/apps/{app}/symbols/uploads, docs/protocol.md), and the ingest
listener's body cap that they allow: the real server, over HTTP, with real files.

Expected answers come from the files themselves: FUNC and PUBLIC lines counted here, the stored
original compared byte for byte with what was sent.
"""
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from test_symbols_api import fixture  # noqa: E402
from vigil_harness import VIGIL, Server, ServerTestCase, batch, session  # noqa: E402

CHUNK = 8 << 20  # chunk_bytes, as docs/protocol.md gives it


def count_functions(data):
    return sum(1 for line in data.decode().splitlines()
               if line.startswith("FUNC ") or line.startswith("PUBLIC "))


def big_breakpad_file(path, functions):
    """A valid Breakpad .sym of `functions` functions, one line record each."""
    with open(path, "w") as f:
        f.write("MODULE Linux x86_64 0F1E2D3C4B5A69788796A5B4C3D2E1F00 libbig.so\n"
                "INFO CODE_ID 3C2D1E0F5A4B7869\nFILE 0 big.cc\n")
        for i in range(functions):
            addr = 0x1000 + i * 0x40
            f.write("FUNC %x 40 0 namespace_with_a_long_name::function_number_%d\n"
                    "%x 40 %d 0\n" % (addr, i, addr, i + 1))


class ChunkedUploadTest(ServerTestCase):
    @classmethod
    def set_up_server(cls):
        cls.app = cls.server.create_app("chunks")
        cls.other = cls.server.create_app("other")
        cls.auth = {"Authorization": "Bearer " + cls.app["api_token"]}
        cls.base = "/v1/apps/%s/symbols/uploads" % cls.app["id"]

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="vigil-chunks-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def call(self, method, path, body=None, auth=None):
        return self.server.json_request(method, path, body, auth or self.auth)

    def create(self, size):
        status, _, body = self.call("POST", self.base + "?size=%d" % size)
        self.assertEqual(status, 201, body)
        self.assertEqual(body["size"], size)
        self.assertEqual(body["received"], 0)
        self.assertEqual(body["chunk_bytes"], CHUNK)
        self.assertTrue(body["upload_id"].startswith("up_"), body)
        return self.base + "/" + body["upload_id"]

    def stored_original(self, symbol_id):
        with open(os.path.join(self.server.data_dir, "symbols", self.app["id"], symbol_id,
                               "original"), "rb") as f:
            return f.read()

    def test_a_file_in_chunks_is_stored_as_sent(self):
        data = fixture("breakpad/linux_inline.new.sym")
        upload = self.create(len(data))
        third = len(data) // 3
        status, _, body = self.call("PUT", upload + "?offset=0", data[:third])
        self.assertEqual((status, body["received"]), (200, third), body)
        # A chunk sent again (its answer was lost) overlapping the next: the same bytes again.
        status, _, body = self.call("PUT", upload + "?offset=0", data[:2 * third])
        self.assertEqual((status, body["received"]), (200, 2 * third), body)
        status, _, body = self.call("GET", upload)
        self.assertEqual((status, body["received"], body["size"]), (200, 2 * third, len(data)))
        status, _, body = self.call("PUT", upload + "?offset=%d" % (2 * third), data[2 * third:])
        self.assertEqual((status, body["received"]), (200, len(data)), body)
        status, _, body = self.call("POST", upload + "/finish?name=ignored-for-breakpad")
        self.assertEqual(status, 201, body)
        self.assertEqual(body["kind"], "breakpad")
        self.assertEqual(body["debug_id"], "bba6fa10-b8aa-b33d-0000-000000000000")
        self.assertEqual(body["functions"], count_functions(data))
        self.assertEqual(body["bytes"], len(data))
        self.assertEqual(self.stored_original(body["id"]), data)
        # Finished: the upload is gone, and its file with it.
        status, _, body = self.call("GET", upload)
        self.assertEqual(status, 404, body)
        self.assertIn("start a new upload", body["error"])
        left = os.listdir(os.path.join(self.server.data_dir, "symbols", ".uploads"))
        self.assertNotIn(upload.rsplit("/", 1)[1] + ".part", left)
        self.assertNotIn(upload.rsplit("/", 1)[1] + ".state", left)

    def test_refusals_say_what_to_send(self):
        status, _, body = self.call("POST", self.base)
        self.assertEqual(status, 400, body)
        self.assertEqual(body["error"], "?size= must be the symbol file's size in bytes, e.g. "
                                        "?size=73400320")
        status, _, body = self.call("POST", self.base + "?size=0")
        self.assertEqual(status, 400, body)
        status, _, body = self.call("POST", self.base + "?size=%d" % ((512 << 20) + 1))
        self.assertEqual((status, body["error"]), (413, "symbol file is over 512 MiB"))

        upload = self.create(100)
        status, _, body = self.call("PUT", upload + "?offset=10", b"x" * 10)
        self.assertEqual(status, 409, body)
        self.assertEqual(body["error"], "offset 10 is past the 0 bytes received: send the chunk "
                                        "at offset 0")
        status, _, body = self.call("PUT", upload + "?offset=0", b"x" * 101)
        self.assertEqual(status, 413, body)
        self.assertEqual(body["error"], "the chunk ends at byte 101, past the upload's size of 100")
        status, _, body = self.call("PUT", upload, b"x")
        self.assertEqual(status, 400, body)
        status, _, body = self.call("PUT", upload + "?offset=0", b"")
        self.assertEqual(status, 400, body)
        status, _, body = self.call("PUT", upload + "?offset=0", b"x" * 60)
        self.assertEqual(status, 200, body)
        status, _, body = self.call("POST", upload + "/finish")
        self.assertEqual(status, 409, body)
        self.assertEqual(body["error"], "the upload has 60 of its 100 bytes: send the rest, from "
                                        "offset 60, then finish")
        status, _, body = self.call("POST", upload + "/done")
        self.assertEqual(status, 404, body)
        status, _, body = self.call("PATCH", upload)
        self.assertEqual(status, 405, body)
        # Another app's token cannot see it, under its own app either.
        other = {"Authorization": "Bearer " + self.other["api_token"]}
        status, _, body = self.call("GET", upload, auth=other)
        self.assertEqual(status, 403, body)
        status, _, body = self.call("GET", upload.replace(self.app["id"], self.other["id"]),
                                    auth=other)
        self.assertEqual(status, 404, body)
        status, _, body = self.call("DELETE", upload)
        self.assertEqual((status, body["deleted"]), (200, upload.rsplit("/", 1)[1]))
        status, _, body = self.call("PUT", upload + "?offset=60", b"x" * 40)
        self.assertEqual(status, 404, body)

    def test_a_finished_file_that_is_not_symbols_is_refused(self):
        upload = self.create(5)
        self.assertEqual(self.call("PUT", upload + "?offset=0", b"hello")[0], 200)
        status, _, body = self.call("POST", upload + "/finish")
        self.assertEqual(status, 400, body)
        status, _, body = self.call("GET", upload)  # the file was read: the upload is over
        self.assertEqual(status, 404, body)

    def test_an_app_has_at_most_16_open_uploads(self):
        uploads = [self.create(10) for _ in range(16)]
        status, hdrs, body = self.call("POST", self.base + "?size=10")
        self.assertEqual(status, 503, body)
        self.assertEqual({k.lower(): v for k, v in hdrs.items()}.get("retry-after"), "30")
        self.assertEqual(body["error"], "16 symbol uploads of this app are open; finish or DELETE "
                                        "one, or wait for idle ones to expire (24 h)")
        for u in uploads:
            self.assertEqual(self.call("DELETE", u)[0], 200)
        self.assertEqual(self.call("DELETE", self.create(10))[0], 200)  # room again

    def test_a_large_file_goes_in_chunks_through_the_cli(self):
        path = os.path.join(self.tmp, "libbig.so.sym")
        big_breakpad_file(path, 260000)  # about 20 MiB: three chunks
        with open(path, "rb") as f:
            data = f.read()
        self.assertGreater(len(data), 2 * CHUNK)
        # In one request, it is over the listener's cap: h2o refuses it from its headers.
        status, body = self.server.headers_only(
            "POST /v1/apps/%s/symbols HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n"
            "Content-Length: %d\r\n\r\n" % (self.app["id"], self.auth["Authorization"],
                                            len(data)))
        self.assertEqual((status, body["error"]),
                         (413, "the request body is over this listener's limit of %d bytes; send "
                               "symbol files over 8 MiB in chunks, through POST "
                               "/v1/apps/{app}/symbols/uploads (`vigil symbols upload` does it)"
                               % (CHUNK + (1 << 20))))
        out = subprocess.run(
            [VIGIL, "symbols", "upload", "--server", "http://127.0.0.1:%d" % self.server.port,
             "--token", self.app["api_token"], path],
            capture_output=True, text=True, timeout=300)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("100%", out.stderr)  # the progress bar reached the end
        stored = json.loads(out.stdout)
        self.assertEqual(stored["debug_id"], "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
        self.assertEqual(stored["functions"], 260000)
        self.assertEqual(stored["bytes"], len(data))
        self.assertEqual(hashlib.sha256(self.stored_original(stored["id"])).hexdigest(),
                         hashlib.sha256(data).hexdigest())


REQUEST_LINE = re.compile(rb"(GET|PUT|POST|DELETE) (/\S*) HTTP/1\.1\r\n")


LOSE_ANSWER = "lose the answer"


def upload_through(proxy, app, path):
    """The command line that uploads `path` for `app` through CuttingProxy `proxy`."""
    return [VIGIL, "symbols", "upload", "--server", "http://127.0.0.1:%d" % proxy.listen_port,
            "--token", app["api_token"], "--app", app["id"], path]


class CuttingProxy:
    """Forwards 127.0.0.1 connections to `port` (which a test may change: a restarted server),
    as a reverse proxy would: while nothing listens there, it answers 502 itself. Once, when
    `cut_after` bytes from clients have gone through, it closes the connection carrying them: a
    network that drops mid-upload. `on_request(method, path)`, called for each request it sees
    (all are kept in `requests`), may hold it and return True to drop it, connection and all,
    or LOSE_ANSWER to let it through and drop the connection when the answer comes back (a
    load balancer timing out a slow request)."""

    def __init__(self, port, cut_after, on_request=None):
        self.port, self.cut_after, self.forwarded, self.cuts = port, cut_after, 0, 0
        self.on_request, self.requests = on_request, []
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listen_port = self.listener.getsockname()[1]
        self.threads = [threading.Thread(target=self.accept, daemon=True)]
        self.threads[0].start()

    def accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            try:
                server = socket.create_connection(("127.0.0.1", self.port))
            except OSError:  # the server is down (a restart)
                threading.Thread(target=self.bad_gateway, args=(client,), daemon=True).start()
                continue
            conn = {"lose_answer": False}
            for src, dst, count in ((client, server, True), (server, client, False)):
                t = threading.Thread(target=self.pump, args=(src, dst, count, conn), daemon=True)
                t.start()

    def bad_gateway(self, client):
        try:
            client.settimeout(10)
            client.recv(65536)  # the request's head, at least
            client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n"
                           b"Connection: close\r\n\r\n")
        except OSError:
            pass
        client.close()

    def pump(self, src, dst, count, conn):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if not count and conn["lose_answer"]:
                    break
                if count:
                    cut = False
                    for m in REQUEST_LINE.finditer(data):
                        request = (m.group(1).decode(), m.group(2).decode())
                        with self.lock:
                            self.requests.append(request)
                        verdict = self.on_request and self.on_request(*request)
                        if verdict == LOSE_ANSWER:
                            conn["lose_answer"] = True
                        else:
                            cut = cut or bool(verdict)
                    with self.lock:
                        self.forwarded += len(data)
                        if self.cuts == 0 and self.forwarded >= self.cut_after:
                            self.cuts, cut = 1, True
                    if cut:
                        break
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def close(self):
        self.listener.close()


class ResumeTest(unittest.TestCase):
    def start_with_file(self, app_name, functions):
        """A server, an app and a Breakpad file of `functions` functions (~78 bytes each):
        (server, app, the file's path, its bytes)."""
        tmp = tempfile.mkdtemp(prefix="vigil-resume-")
        self.addCleanup(shutil.rmtree, tmp, True)
        server = Server().start()
        self.addCleanup(server.cleanup)
        app = server.create_app(app_name)
        path = os.path.join(tmp, "libbig.so.sym")
        big_breakpad_file(path, functions)
        with open(path, "rb") as f:
            return server, app, path, f.read()

    def assertStoredAsSent(self, server, app, stored, data):
        with open(os.path.join(server.data_dir, "symbols", app["id"], stored["id"], "original"),
                  "rb") as f:
            self.assertEqual(hashlib.sha256(f.read()).digest(), hashlib.sha256(data).digest())

    def test_the_cli_resumes_after_a_dropped_connection(self):
        server, app, path, data = self.start_with_file("resume", 200000)  # ~15 MiB: two chunks
        proxy = CuttingProxy(server.port, cut_after=CHUNK + (2 << 20))  # inside the second chunk
        self.addCleanup(proxy.close)
        out = subprocess.run(
            upload_through(proxy, app, path),
            capture_output=True, text=True, timeout=300)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(proxy.cuts, 1)
        # It went on from the first chunk, which had arrived, not from the start.
        self.assertLess(proxy.forwarded, len(data) + (3 << 20))
        stored = json.loads(out.stdout)
        self.assertEqual(stored["functions"], 200000)
        self.assertStoredAsSent(server, app, stored, data)


    def test_an_upload_goes_on_after_a_kill9(self):
        """A deploy in the middle of a CI job's upload: every acknowledged chunk survives."""
        server = Server().start()
        self.addCleanup(server.cleanup)
        app = server.create_app("restart")
        auth = {"Authorization": "Bearer " + app["api_token"]}
        base = "/v1/apps/%s/symbols/uploads" % app["id"]
        data = fixture("breakpad/linux_inline.new.sym")
        half = len(data) // 2
        status, _, body = server.json_request("POST", base + "?size=%d" % len(data), None, auth)
        self.assertEqual(status, 201, body)
        upload = base + "/" + body["upload_id"]
        status, _, body = server.json_request("PUT", upload + "?offset=0", data[:half], auth)
        self.assertEqual((status, body["received"]), (200, half), body)
        status, _, body = server.json_request("POST", base + "?size=10", None, auth)
        self.assertEqual(status, 201, body)
        untouched = base + "/" + body["upload_id"]
        server.kill9()
        uploads_dir = os.path.join(server.data_dir, "symbols", ".uploads")
        with open(os.path.join(uploads_dir, "up_orphan.part"), "wb") as f:
            f.write(b"left by nobody")
        server.start()
        status, _, body = server.json_request("GET", upload, None, auth)
        self.assertEqual((status, body["received"], body["size"]), (200, half, len(data)), body)
        status, _, body = server.json_request("GET", untouched, None, auth)
        self.assertEqual((status, body["received"]), (200, 0), body)
        self.assertNotIn("up_orphan.part", os.listdir(uploads_dir))
        status, _, body = server.json_request("PUT", upload + "?offset=%d" % half, data[half:],
                                              auth)
        self.assertEqual((status, body["received"]), (200, len(data)), body)
        status, _, body = server.json_request("POST", upload + "/finish", None, auth)
        self.assertEqual(status, 201, body)
        self.assertEqual(body["functions"], count_functions(data))
        with open(os.path.join(server.data_dir, "symbols", app["id"], body["id"], "original"),
                  "rb") as f:
            self.assertEqual(f.read(), data)
        # Deleted, it is gone for good: after another restart too.
        self.assertEqual(server.json_request("DELETE", untouched, None, auth)[0], 200)
        server.stop()
        server.start()
        self.assertEqual(server.json_request("GET", untouched, None, auth)[0], 404)
        self.assertEqual(os.listdir(uploads_dir), [])


    def test_the_cli_goes_on_after_the_server_restarts(self):
        """A deploy (kill -9, a new process) while a CI job uploads: the job still succeeds."""
        proxy = self.restart_during_upload("PUT", "?offset=%d" % CHUNK)
        # The second chunk, dropped with the server, was sent again once the CLI had asked the
        # restarted server where to go on (the HTTP client may also have tried it once more at
        # once, and got the proxy's 502).
        second = [i for i, (m, p) in enumerate(proxy.requests)
                  if m == "PUT" and p.endswith("?offset=%d" % CHUNK)]
        asked = [i for i, (m, _) in enumerate(proxy.requests) if m == "GET"]
        self.assertGreaterEqual(len(second), 2, proxy.requests)
        self.assertTrue(asked and second[0] < asked[-1] < second[-1], proxy.requests)

    def test_the_cli_finishes_again_after_a_restart_while_converting(self):
        """The same during the finish: its answer is lost, the upload is not, and the CLI
        finishes it again."""
        proxy = self.restart_during_upload("POST", "/finish")
        finishes = [p for m, p in proxy.requests if m == "POST" and "/finish" in p]
        self.assertEqual(len(finishes), 2, proxy.requests)  # the one lost, the one sent again

    def test_a_finish_whose_answer_was_lost_is_answered_again(self):
        """A proxy drops the connection while the server converts (a load balancer's timeout on
        a slow finish): the server stores the file and keeps the finish's answer, and the CLI,
        finding the upload gone, finishes it again and gets that answer."""
        server, app, path, data = self.start_with_file("lost", 200000)  # ~15 MiB: two chunks
        lost = []

        def on_request(m, p):
            if m == "POST" and "/finish" in p and not lost:
                lost.append(p)
                return LOSE_ANSWER
            return False

        proxy = CuttingProxy(server.port, cut_after=1 << 62, on_request=on_request)
        self.addCleanup(proxy.close)
        out = subprocess.run(upload_through(proxy, app, path), capture_output=True, text=True,
                             timeout=300)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(len(lost), 1)
        finish = lost[0].split("?")[0]
        self.assertIn("the answer to finishing upload %s was lost; the server answered it again"
                      % finish.split("/")[-2], out.stderr)
        stored = json.loads(out.stdout)
        self.assertEqual((stored["functions"], stored["bytes"], stored["name"]),
                         (200000, len(data), "libbig.so"))
        self.assertStoredAsSent(server, app, stored, data)
        auth = {"Authorization": "Bearer " + app["api_token"]}
        self.assertEqual(self.listed(server, app), [stored])
        # The server's own part: a finish sent again gets the first one's answer, for its app.
        status, _, body = server.json_request("POST", finish, None, auth)
        self.assertEqual((status, body), (201, stored))
        other = server.create_app("other")
        status, _, body = server.json_request(
            "POST", finish.replace(app["id"], other["id"]), None,
            {"Authorization": "Bearer " + other["api_token"]})
        self.assertEqual(status, 404, body)

    def test_after_a_restart_the_cli_finds_the_file_among_the_stored_symbols(self):
        """The same, and the server restarts after storing the file: it has forgotten the
        answer, and the CLI finds the file among the stored symbols by its size and time."""
        server, app, path, data = self.start_with_file("forgot", 200000)
        lost, restarted = [], threading.Event()

        def on_request(m, p):
            if m == "POST" and "/finish" in p and not lost:
                lost.append(p)
                return LOSE_ANSWER
            if lost and not restarted.is_set():
                restarted.wait(120)  # the CLI asks only once the server is back
                return True
            return False

        proxy = CuttingProxy(server.port, cut_after=1 << 62, on_request=on_request)
        self.addCleanup(proxy.close)
        cli = subprocess.Popen(upload_through(proxy, app, path), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: cli.poll() is None and cli.kill())
        # Stored, and the upload's files gone (the finish ended). Killed between the two, the
        # server would find the whole upload again at start, and the CLI would finish it anew.
        uploads_dir = os.path.join(server.data_dir, "symbols", ".uploads")
        deadline = time.time() + 300
        while not (self.listed(server, app) and not os.listdir(uploads_dir)):
            self.assertLess(time.time(), deadline, "the file was never stored")
            time.sleep(0.1)
        server.kill9()
        server.start()
        proxy.port = server.port
        restarted.set()
        out, err = cli.communicate(timeout=300)
        self.assertEqual(cli.returncode, 0, err)
        self.assertIn("the server no longer knows the upload; a file of its size (%d bytes) is "
                      "listed as stored since the upload began" % len(data), err)
        stored = json.loads(out)
        self.assertEqual(self.listed(server, app), [stored])
        self.assertStoredAsSent(server, app, stored, data)

    def listed(self, server, app):
        status, _, body = server.json_request(
            "GET", "/v1/apps/%s/symbols" % app["id"], None,
            {"Authorization": "Bearer " + app["api_token"]})
        self.assertEqual(status, 200, body)
        return body["symbols"]

    def restart_during_upload(self, method, path_part):
        """Uploads a file of five chunks through a CuttingProxy. The first request `method` with
        `path_part` in its path is dropped, the server killed -9 meanwhile, and restarted 2 s
        later on a new port (the proxy answers 502 until then): the CLI must still store the
        file as sent. Returns the proxy."""
        server, app, path, data = self.start_with_file("deploy", 450000)  # ~34 MiB
        seen, killed = threading.Event(), threading.Event()

        def on_request(m, p):
            if seen.is_set() or m != method or path_part not in p:
                return False
            seen.set()
            killed.wait(120)  # the server goes before the request could reach it
            return True

        proxy = CuttingProxy(server.port, cut_after=1 << 62, on_request=on_request)
        self.addCleanup(proxy.close)
        cli = subprocess.Popen(
            upload_through(proxy, app, path),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: cli.poll() is None and cli.kill())
        self.assertTrue(seen.wait(300), "the CLI never sent %s ...%s" % (method, path_part))
        server.kill9()
        killed.set()
        time.sleep(2)  # the CLI finds only the proxy's 502s for a while
        server.start()
        proxy.port = server.port
        out, err = cli.communicate(timeout=300)
        self.assertEqual(cli.returncode, 0, err)
        stored = json.loads(out)
        self.assertEqual(stored["functions"], 450000)
        self.assertStoredAsSent(server, app, stored, data)
        self.assertEqual(os.listdir(os.path.join(server.data_dir, "symbols", ".uploads")), [])
        return proxy

class IngestListenerCapTest(unittest.TestCase):
    def test_ingest_refuses_a_large_body_from_its_headers(self):
        server = Server().start()
        self.addCleanup(server.cleanup)
        app = server.create_app("cap")
        # Headers announcing 64 MiB and no body: the answer comes without waiting for it.
        status, body = server.headers_only(
            "POST /v1/events HTTP/1.1\r\nHost: x\r\nX-Vigil-Key: %s\r\n"
            "Content-Length: 67108864\r\n\r\n" % app["ingest_key"])
        self.assertEqual((status, body["error"]),
                         (413, "the request body is over this listener's limit of %d bytes; a "
                               "batch is at most 1048576 bytes as sent (max_body_bytes): send "
                               "fewer events per batch" % (CHUNK + (1 << 20))))
        too_large = body
        # h2o's other answers of its own are JSON too, and counted.
        status, body = server.headers_only(
            "POST /v1/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
        self.assertEqual((status, body), (400, {"error": "broken chunked-encoding"}))
        # HEAD: the same headers, no body.
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            s.sendall(b"HEAD /v1/events HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Length: 67108864\r\n\r\n")
            head = b""
            while not head.endswith(b"\r\n\r\n"):
                data = s.recv(4096)
                if not data:
                    break
                head += data
        lines = head.decode().lower().split("\r\n")
        self.assertTrue(lines[0].startswith("http/1.1 413"), lines)
        self.assertIn("content-type: application/json", lines)
        self.assertIn("content-length: %d" % len(json.dumps(too_large, separators=(",", ":"))),
                      lines)
        self.assertEqual(server.metric('vigil_http_requests_total{code="413"}'), 2)
        self.assertEqual(server.metric('vigil_http_requests_total{code="400"}'), 1)
        self.assertEqual(server.post_events(app["ingest_key"], batch("b1", [session("e1")]))[0],
                         202)


if __name__ == "__main__":
    unittest.main()
