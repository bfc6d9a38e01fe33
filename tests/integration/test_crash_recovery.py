"""kill -9 mid-load: every event that got a 202 is in the log exactly once, over several rounds.

Concurrent clients post batches of unique events (some retried with the same batch_id); the
server is SIGKILLed while they run, then restarted on the same data directory. After the last
round, `vigil log dump` must hold every acknowledged event id exactly once.
"""
import collections
import gzip
import http.client
import json
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from vigil_harness import Server, batch  # noqa: E402

ROUNDS = 3
CLIENTS = 8
LOAD_SECONDS = 1.5


def client_loop(port, key, round_no, client_no, stop, acked, lock):
    n = 0
    conn = None
    while not stop.is_set():
        batch_id = "r%d-c%d-b%d" % (round_no, client_no, n)
        events = [{"id": "%s-e%d" % (batch_id, i), "type": "session_start",
                   "ts": int(time.time() * 1000)} for i in range(5)]
        body = gzip.compress(json.dumps(batch(batch_id, events)).encode())
        # Send twice now and then: a retry must not double the events.
        for attempt in range(2 if n % 7 == 0 else 1):
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("POST", "/v1/events", body, {"X-Vigil-Key": key, "Content-Encoding": "gzip"})
                resp = conn.getresponse()
                data = resp.read()
                if resp.status == 202:
                    answer = json.loads(data)
                    with lock:
                        for e in events:
                            acked.add(e["id"])
                    assert answer["accepted"] == 5, answer
            except (OSError, http.client.HTTPException):
                conn = None  # the server died; this batch was not acknowledged
                time.sleep(0.05)
        n += 1


class CrashRecoveryTest(unittest.TestCase):
    def test_acknowledged_events_survive_sigkill_exactly_once(self):
        server = Server().start()
        app = server.create_app("crash")
        acked = set()
        lock = threading.Lock()
        try:
            for round_no in range(ROUNDS):
                stop = threading.Event()
                threads = [threading.Thread(target=client_loop,
                                            args=(server.port, app["ingest_key"], round_no, c, stop, acked, lock))
                           for c in range(CLIENTS)]
                for t in threads:
                    t.start()
                time.sleep(LOAD_SECONDS)
                server.kill9()  # mid-load
                stop.set()
                for t in threads:
                    t.join()
                server.start()
            dumped = server.log_dump(app["id"])
            counts = collections.Counter(e["id"] for e in dumped)
            self.assertGreater(len(acked), 100, "the load was too small to mean anything")
            missing = acked - set(counts)
            self.assertEqual(missing, set(), "acknowledged events lost")
            dups = {k: v for k, v in counts.items() if v > 1}
            self.assertEqual(dups, {}, "events stored more than once")
            print("acknowledged %d events over %d kill -9 rounds; log holds %d events"
                  % (len(acked), ROUNDS, len(counts)))
        finally:
            server.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
