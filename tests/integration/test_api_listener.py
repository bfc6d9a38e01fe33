"""api_listen (docs/configuration.md): symbol uploads on a listener of their own, so that the
ingest listener refuses a body over max_body_bytes from its headers, before reading any of it.
"""
import http.client
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from test_symbols_api import fixture  # noqa: E402
from vigil_harness import Server, batch, session  # noqa: E402


class ApiListenerTest(unittest.TestCase):
    def setUp(self):
        self.server = Server(env={"VIGIL_API_LISTEN": "127.0.0.1:0"}).start()
        self.addCleanup(self.server.cleanup)
        self.assertTrue(self.server.wait_output("symbol uploads (and the rest of the API) on"))
        line = [l for l in self.server.output if "symbol uploads (and the rest" in l][0]
        self.api_port = int(re.search(r"http://127\.0\.0\.1:(\d+)", line).group(1))
        self.assertNotEqual(self.api_port, self.server.port)
        self.app = self.server.create_app("api-listener")
        self.auth = {"Authorization": "Bearer " + self.app["api_token"]}

    def upload(self, port):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("POST", "/v1/apps/%s/symbols" % self.app["id"],
                         fixture("breakpad/linux_inline.new.sym"), self.auth)
            resp = conn.getresponse()
            return resp.status, resp.read().decode()
        finally:
            conn.close()

    def test_symbol_uploads_go_to_the_api_listener_only(self):
        status, body = self.upload(self.server.port)
        self.assertEqual(status, 403, body)
        self.assertEqual(body, '{"error":"symbol files are uploaded to the API listener, '
                               'http://127.0.0.1:%d (api_listen), not to this one"}' % self.api_port)
        status, body = self.upload(self.api_port)
        self.assertEqual(status, 201, body)
        self.assertIn('"kind":"breakpad"', body)
        # Chunked uploads too: their creation and their chunks.
        uploads = "/v1/apps/%s/symbols/uploads" % self.app["id"]
        for method, path, sent in (("POST", uploads + "?size=3", None),
                                   ("PUT", uploads + "/up_0?offset=0", b"abc"),
                                   ("POST", uploads + "/up_0/finish", None)):
            status, _, answer = self.server.request(method, path, sent, self.auth)
            self.assertEqual(status, 403, (method, path, answer))
            self.assertIn(b"(api_listen), not to this one", answer)
        conn = http.client.HTTPConnection("127.0.0.1", self.api_port, timeout=30)
        conn.request("POST", uploads + "?size=3", headers=self.auth)
        self.assertEqual(conn.getresponse().status, 201)
        conn.close()
        # Ingest and the rest of the API answer on both.
        self.assertEqual(self.server.post_events(self.app["ingest_key"],
                                                 batch("b1", [session("e1")]))[0], 202)
        conn = http.client.HTTPConnection("127.0.0.1", self.api_port, timeout=30)
        conn.request("GET", "/v1/app", headers=self.auth)
        self.assertEqual(conn.getresponse().status, 200)
        conn.close()

    def test_the_ingest_listener_refuses_a_large_body_from_its_headers(self):
        # Headers announcing 64 MiB, and no body: the answer comes without waiting for it.
        status, body = self.server.headers_only(
            "POST /v1/events HTTP/1.1\r\nHost: x\r\nX-Vigil-Key: %s\r\n"
            "Content-Length: 67108864\r\n\r\n" % self.app["ingest_key"])
        self.assertEqual(status, 413)
        self.assertEqual(body["error"], "the request body is over this listener's limit of "
                                        "2097152 bytes; a batch is at most 1048576 bytes as sent "
                                        "(max_body_bytes): send fewer events per batch")
        # A symbol file over it, sent to this listener, is told where to go.
        status, body = self.server.headers_only(
            "POST /v1/apps/%s/symbols HTTP/1.1\r\nHost: x\r\nContent-Length: 3000000\r\n\r\n"
            % self.app["id"])
        self.assertEqual((status, body["error"]),
                         (413, "the request body is over this listener's limit of 2097152 bytes; "
                               "symbol files are uploaded to the API listener, "
                               "http://127.0.0.1:%d (api_listen)" % self.api_port))
        # The API listener's own cap.
        status, body = self.server.headers_only(
            "POST /v1/apps/%s/symbols HTTP/1.1\r\nHost: x\r\nContent-Length: 600000000\r\n"
            "\r\n" % self.app["id"], port=self.api_port)
        self.assertEqual((status, body["error"]),
                         (413, "the request body is over this listener's limit of 537919488 "
                               "bytes; a symbol file is at most 512 MiB"))
        # A batch within max_body_bytes is still taken.
        self.assertEqual(self.server.post_events(self.app["ingest_key"],
                                                 batch("b2", [session("e2")]))[0], 202)


if __name__ == "__main__":
    unittest.main()
