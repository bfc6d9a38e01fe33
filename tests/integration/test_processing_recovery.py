"""kill -9 while crashes are ingested and processed: every crash in the raw log is processed and
counted in its crash group exactly once.

Clients post batches of crash events (five exception types, minimal form) while the server is
SIGKILLed and restarted, over several rounds. Afterwards the expected counts are taken from the
raw log itself (`vigil log dump`: every batch the log holds, acknowledged or not) and compared
with the processed log (each crash once, not reprocessed; every batch without crashes, read
through its reference to the raw record, as the raw log has it) and the crash-group API (counts
per type), after the server catches up.
"""
import collections
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from vigil_harness import KeepAliveClient, Server, batch  # noqa: E402

ROUNDS = 3
CLIENTS = 4
LOAD_SECONDS = 1.5
TYPES = ["TypeA", "TypeB", "TypeC", "TypeD", "TypeE"]


def client_loop(port, key, round_no, client_no, stop):
    n = 0
    client = KeepAliveClient(port, key)
    while not stop.is_set():
        batch_id = "r%d-c%d-b%d" % (round_no, client_no, n)
        if n % 3 == 2:  # a batch without crashes: the processed log refers to its raw record
            events = [{"id": "%s-n%d" % (batch_id, i), "type": "network",
                       "ts": int(time.time() * 1000),
                       "network": {"url": "https://api.example.com/v%d" % i, "method": "GET",
                                   "status": 200, "duration_ms": 10 + i}}
                      for i in range(3)]
        else:
            events = [{"id": "%s-e%d" % (batch_id, i), "type": "crash",
                       "ts": int(time.time() * 1000),
                       "error": {"type": TYPES[(n + i) % len(TYPES)], "reason": "boom"}}
                      for i in range(3)]
        events.append({"id": batch_id + "-s", "type": "session_start",
                       "ts": int(time.time() * 1000)})
        if client.post_batch(batch(batch_id, events)) is None:
            time.sleep(0.05)  # the server died
        n += 1
    client.close()


class ProcessingRecoveryTest(unittest.TestCase):
    def test_every_logged_crash_is_counted_once_after_sigkills(self):
        server = Server().start()
        app = server.create_app("processing-crash")
        auth = {"Authorization": "Bearer " + app["api_token"]}
        try:
            for round_no in range(ROUNDS):
                stop = threading.Event()
                threads = [threading.Thread(target=client_loop,
                                            args=(server.port, app["ingest_key"], round_no, c, stop))
                           for c in range(CLIENTS)]
                for t in threads:
                    t.start()
                time.sleep(LOAD_SECONDS)
                server.kill9()
                stop.set()
                for t in threads:
                    t.join()
                server.start()

            # What the raw log holds is the truth to count against.
            expected = collections.Counter()
            crash_ids = set()
            raw = server.log_dump(app["id"])
            for e in raw:
                if e["type"] == "crash":
                    self.assertNotIn(e["id"], crash_ids)
                    crash_ids.add(e["id"])
                    expected[e["error"]["type"]] += 1
            self.assertGreater(len(crash_ids), 100)

            deadline = time.time() + 60
            counts = None
            while time.time() < deadline:
                status, _, body = server.json_request(
                    "GET", "/v1/apps/%s/crash-groups" % app["id"], headers=auth)
                self.assertEqual(status, 200, body)
                counts = collections.Counter({g["type"]: g["crashes"] for g in body["groups"]})
                if sum(counts.values()) >= len(crash_ids):
                    break
                time.sleep(0.2)
            self.assertEqual(counts, expected)
            for g in body["groups"]:
                self.assertFalse(g["sentinel"])
                self.assertEqual(g["title"], g["type"])

            # The processed log holds each crash once, and nothing that is not in the raw log.
            server.stop()
            processed = server.log_dump(app["id"], log="processed")
            seen = collections.Counter(e["id"] for e in processed if e["type"] == "crash")
            self.assertEqual(set(seen), crash_ids)
            self.assertEqual(max(seen.values()), 1)
            for e in processed:
                if e["type"] == "crash":
                    self.assertEqual(e["processed"]["title"], e["error"]["type"])
                    self.assertFalse(e["processing"]["reprocessed"])
            # Every raw event is in the processed log once; those of batches without crashes,
            # read through their references, exactly as the raw log has them (but the offset).
            self.assertEqual(collections.Counter(e["id"] for e in processed),
                             collections.Counter(e["id"] for e in raw))
            no_offset = {e["id"]: {k: v for k, v in e.items() if k != "offset"} for e in raw}
            networks = [e for e in processed if e["type"] == "network"]
            self.assertGreater(len(networks), 30)
            for e in networks:
                self.assertEqual({k: v for k, v in e.items() if k != "offset"}, no_offset[e["id"]])
        finally:
            server.cleanup()


if __name__ == "__main__":
    unittest.main()
