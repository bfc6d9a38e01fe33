"""HTTP/1 connections while their POST /v1/events reply waits for the log's fsync.

The loop keeps polling such a connection (src/ingest/http_server.cc, DeferredReply::Defer), so
whatever the client sends meanwhile must wait for the reply and then be handled as before:
pipelined requests are answered in order, each once, and a client that hangs up early costs
nothing but its own connection. Driven over raw sockets, since http.client never pipelines.
"""
import json
import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from vigil_harness import ServerTestCase, batch, session  # noqa: E402


def post_bytes(key, body):
    return (b"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Vigil-Key: " + key.encode() +
            b"\r\nContent-Type: application/json\r\nContent-Length: " + str(len(body)).encode() +
            b"\r\n\r\n" + body)


def read_responses(sock, count, timeout=30):
    """Reads `count` HTTP/1.1 responses with Content-Length bodies: [(status, json body)]."""
    sock.settimeout(timeout)
    buf, out = b"", []
    while len(out) < count:
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                raise AssertionError("connection closed after %d responses" % len(out))
            buf += chunk
        head, buf = buf.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        length = next(int(line.split(":", 1)[1]) for line in lines
                      if line.lower().startswith("content-length:"))
        while len(buf) < length:
            chunk = sock.recv(65536)
            if not chunk:
                raise AssertionError("connection closed inside a response body")
            buf += chunk
        out.append((int(lines[0].split()[1]), json.loads(buf[:length])))
        buf = buf[length:]
    return out


class DeferredReplyTest(ServerTestCase):
    @classmethod
    def set_up_server(cls):
        cls.key = cls.server.create_app("deferred")["ingest_key"]

    def body(self, batch_id, event_ids):
        return json.dumps(batch(batch_id, [session(e) for e in event_ids])).encode()

    def connect(self):
        sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=30)
        self.addCleanup(sock.close)
        return sock

    def test_pipelined_requests_are_answered_in_order_each_once(self):
        sock = self.connect()
        sock.sendall(b"".join(post_bytes(self.key, self.body("pipe-%d" % i, ["pipe-%d-a" % i,
                                                                               "pipe-%d-b" % i]))
                              for i in range(5)))
        answers = read_responses(sock, 5)
        self.assertEqual(answers, [(202, {"accepted": 2, "rejected": 0, "errors": []})] * 5)
        ids = [e["id"] for e in self.server.log_dump() if e["id"].startswith("pipe-")]
        self.assertEqual(sorted(ids), sorted("pipe-%d-%s" % (i, s) for i in range(5) for s in "ab"))

    def test_a_request_sent_while_the_last_waits_for_its_fsync_is_answered_after_it(self):
        sock = self.connect()
        for i in range(30):
            sock.sendall(post_bytes(self.key, self.body("early-%d-1" % i, ["early-%d-1" % i])))
            # The first reply waits for its group commit (~0.1-1 ms here); the next request
            # lands meanwhile in most rounds, and is read only once that reply is out.
            time.sleep(0.0002 * (i % 5))
            sock.sendall(post_bytes(self.key, self.body("early-%d-2" % i, ["early-%d-2" % i])))
            self.assertEqual(read_responses(sock, 2),
                             [(202, {"accepted": 1, "rejected": 0, "errors": []})] * 2, i)
        ids = {e["id"] for e in self.server.log_dump() if e["id"].startswith("early-")}
        self.assertEqual(ids, {"early-%d-%d" % (i, k) for i in range(30) for k in (1, 2)})

    def test_clients_that_hang_up_before_their_reply_leave_the_server_answering(self):
        for i in range(30):
            sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=30)
            sock.sendall(post_bytes(self.key, self.body("gone-%d" % i, ["gone-%d" % i])))
            if i % 2:
                sock.shutdown(socket.SHUT_WR)  # half-closed: the reply can still be read
                self.assertEqual(read_responses(sock, 1)[0][0], 202)
            sock.close()
        self.assertEqual(self.server.request("GET", "/healthz")[0], 200)
        status, _, answer = self.server.post_events(self.key, batch("after-gone", [session("ag")]))
        self.assertEqual((status, answer["accepted"]), (202, 1))
        # Each batch was appended once, whether or not its client stayed for the reply (the
        # writer appends in order: the batch acknowledged last went after them).
        ids = [e["id"] for e in self.server.log_dump() if e["id"].startswith("gone-")]
        self.assertEqual(sorted(ids), sorted("gone-%d" % i for i in range(30)))


if __name__ == "__main__":
    unittest.main()
